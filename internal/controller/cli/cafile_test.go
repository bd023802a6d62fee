package cli

import (
	"testing"

	"github.com/spf13/cobra"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// One name, one meaning: MXPROBE_CA_FILE is the agent's probe trust store
// and never the controller CA of a client command; the client reads
// --controller-ca-file, the deprecated --ca-file, else
// MXPROBE_CONTROLLER_CA_FILE (the agent's name for the same file).
func TestControllerCAFileHasOneName(t *testing.T) {
	cmdWith := func(args ...string) *cobra.Command {
		c := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
		c.Flags().String("controller-ca-file", "", "")
		c.Flags().String("ca-file", "", "")
		if err := c.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Setenv("MXPROBE_CA_FILE", "/probe/roots.pem")
	t.Setenv(controllerCAEnv, "")
	if got := controllerCAFile(cmdWith()); got != "" {
		t.Errorf("with only MXPROBE_CA_FILE set the client trusts %q as the controller CA, want nothing", got)
	}
	t.Setenv(controllerCAEnv, "/cluster/ca.pem")
	if got := controllerCAFile(cmdWith()); got != "/cluster/ca.pem" {
		t.Errorf("MXPROBE_CONTROLLER_CA_FILE: %q", got)
	}
	if got := controllerCAFile(cmdWith("--ca-file", "/old.pem")); got != "/old.pem" {
		t.Errorf("deprecated --ca-file over the environment: %q", got)
	}
	if got := controllerCAFile(cmdWith("--controller-ca-file", "/flag.pem", "--ca-file", "/old.pem")); got != "/flag.pem" {
		t.Errorf("--controller-ca-file first: %q", got)
	}
}

// A certificate's places: each host once, then each endpoint that
// presented it once, with how many agents saw it there ("(presented)"
// was repeated per observing agent in the certificates CSV).
func TestInstalledOnListsEachPlaceOnce(t *testing.T) {
	got := installedOn(certPlaces(
		"store", "edge01", "",
		"presented", "edge01", "mx.partner.example:25",
		"store", "edge01", "",
		"presented", "edge02", "mx.partner.example:25",
		"store", "edge02", "",
		"presented", "edge02", "mx2.partner.example:25",
	))
	want := []string{"edge01", "edge02", "mx.partner.example:25 (presented, seen by 2 agents)", "mx2.partner.example:25 (presented)"}
	if len(got) != len(want) {
		t.Fatalf("installedOn: %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("installedOn: %q, want %q", got, want)
		}
	}
}

// certPlaces makes installations from (origin, host, endpoint) triples.
func certPlaces(f ...string) []*mxv1.CertificateInstallation {
	var ins []*mxv1.CertificateInstallation
	for i := 0; i+2 < len(f); i += 3 {
		ins = append(ins, &mxv1.CertificateInstallation{Origin: f[i], Host: f[i+1], Endpoint: f[i+2]})
	}
	return ins
}
