package checks

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/lab"
)

// postfixMaster is a master.cf with the services smtpd needs, none chrooted
// (the private instance has no chroot tree).
const postfixMaster = `%s inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`

// startPostfix starts a private Postfix instance (its own config and queue
// directories) on a loopback port with the given certificate, and stops it
// when the test ends. It skips when Postfix is not installed or the test
// does not run as root (Postfix's master must start as root).
func startPostfix(t *testing.T, cert *lab.Issued) string {
	t.Helper()
	bin, err := exec.LookPath("postfix")
	if err != nil {
		for _, p := range []string{"/usr/sbin/postfix", "/usr/local/sbin/postfix"} {
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		t.Skip("postfix is not installed (scripts/test.sh installs it in CI as root: apt-get install -y postfix); skipping the real-Postfix test")
	}
	if os.Geteuid() != 0 {
		t.Skip("the real-Postfix test needs root (Postfix's master starts as root); skipping")
	}
	dir, err := os.MkdirTemp("", "mxprobe-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // postfix daemons run as user postfix
		t.Fatal(err)
	}
	addr := closedPort(t)
	key, err := cert.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"cert.pem":  cert.ChainPEM(),
		"key.pem":   key,
		"master.cf": fmt.Appendf(nil, postfixMaster, addr),
		"main.cf": fmt.Appendf(nil, `compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
myhostname = localhost
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
smtpd_tls_cert_file = %[1]s/cert.pem
smtpd_tls_key_file = %[1]s/key.pem
smtpd_tls_security_level = may
smtpd_banner = $myhostname ESMTP mxprobe test instance
`, dir),
	}
	for name, data := range files {
		mode := os.FileMode(0o644)
		if name == "key.pem" {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"queue", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, append([]string{"-c", dir}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("postfix %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if u, err := user.Lookup("postfix"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(filepath.Join(dir, "data"), uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := run("start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
		t.Fatalf("%v\nmaillog:\n%s", err, log)
	}
	t.Cleanup(func() {
		if err := run("stop"); err != nil {
			t.Errorf("stopping the private Postfix: %v", err)
		}
	})
	// Wait until smtpd answers.
	deadline := time.Now().Add(20 * time.Second)
	for {
		res := runSpec(t, Spec{Probes: []string{"smtp://" + addr}, ProbeTimeout: 2 * time.Second, ExpectName: "localhost"})
		if len(res) == 1 && !hasCode(res[0], finding.SMTPUnreachable) {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
			t.Fatalf("postfix did not answer on %s: %v\nmaillog:\n%s", addr, res, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return addr
}

func hasCode(r *mxv1.CheckResult, code finding.Code) bool {
	for _, f := range r.GetFindings() {
		if f.Code == string(code) {
			return true
		}
	}
	return false
}

// A real Postfix from the distribution, probed by the smtpprobe check: a
// healthy certificate gives a clean result; an expired one CERT_EXPIRED.
func TestRealPostfix(t *testing.T) {
	ca := newCA(t)
	caFile := writeCAFile(t, ca)
	t.Run("healthy", func(t *testing.T) {
		addr := startPostfix(t, mustIssue(t, ca, lab.IssueOptions{CommonName: "localhost", DNSNames: []string{"localhost"}}))
		res := runSpec(t, Spec{Probes: []string{"smtp://" + addr}, CAFile: caFile, ExpectName: "localhost", ProbeTimeout: 10 * time.Second})
		if len(res) != 1 || res[0].Status != mxv1.CheckStatus_CHECK_STATUS_OK {
			t.Fatalf("probe of healthy Postfix: %v", res)
		}
		for _, f := range res[0].Findings {
			if f.Severity >= mxv1.Severity_SEVERITY_ERROR {
				t.Errorf("healthy Postfix: %s %s", f.Code, f.Summary)
			}
		}
	})
	t.Run("expired", func(t *testing.T) {
		now := time.Now()
		addr := startPostfix(t, mustIssue(t, ca, lab.IssueOptions{CommonName: "localhost", DNSNames: []string{"localhost"},
			NotBefore: now.AddDate(-1, 0, -10), NotAfter: now.AddDate(0, 0, -10)}))
		res := runSpec(t, Spec{Probes: []string{"smtp://" + addr}, CAFile: caFile, ExpectName: "localhost", ProbeTimeout: 10 * time.Second})
		if len(res) != 1 || !hasCode(res[0], finding.CertExpired) {
			t.Fatalf("probe of Postfix with an expired certificate: %v", res)
		}
		for _, f := range res[0].Findings {
			if f.Code == string(finding.CertExpired) && f.Evidence["origin"] != "presented" {
				t.Errorf("CERT_EXPIRED evidence %v", f.Evidence)
			}
		}
	})
}
