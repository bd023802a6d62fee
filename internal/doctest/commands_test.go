package doctest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// binaries are the commands the documentation runs, built once per test
// binary.
var binaries = []string{"agent", "controller", "mxdemo", "mxlab", "mxbench"}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func buildBinaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "mxprobe-doctest-bin-")
		if buildErr != nil {
			return
		}
		for _, b := range binaries {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, b), "./cmd/"+b)
			cmd.Dir = repoRoot(t)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build ./cmd/%s: %v\n%s", b, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// docCommand is one command line of a shell or PowerShell block.
type docCommand struct {
	file string
	line string
	args []string // shell words, up to the first pipe, redirection or separator
}

var fence = regexp.MustCompile("(?s)```(sh|bash|shell|powershell)\n(.*?)```")

// docCommands extracts every command line of the shell and PowerShell
// blocks of README.md and docs/*.md: continuations joined, comments
// dropped.
func docCommands(t *testing.T) []docCommand {
	t.Helper()
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	var out []docCommand
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fence.FindAllStringSubmatch(string(b), -1) {
			body := m[2]
			if m[1] == "powershell" {
				body = strings.ReplaceAll(body, "`\n", " ")
			} else {
				body = strings.ReplaceAll(body, "\\\n", " ")
			}
			for _, l := range strings.Split(body, "\n") {
				words := shellWords(l)
				if len(words) == 0 {
					continue
				}
				rel, _ := filepath.Rel(root, f)
				out = append(out, docCommand{file: rel, line: strings.TrimSpace(l), args: words})
			}
		}
	}
	return out
}

// shellWords splits a line like a shell would, enough for documentation:
// quotes, a comment after unquoted #, and it stops at |, >, <, ;, && and ||.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	quote := byte(0)
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !inWord:
			flush()
			return words
		case c == '|' || c == '>' || c == '<' || c == ';' || c == '&' && i+1 < len(line) && line[i+1] == '&':
			flush()
			return words
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words
}

// program is the mxprobe binary a documented command runs ("" for other
// programs) and its arguments: `go run ./cmd/X`, X, ./X, X.exe and
// `& 'C:\...\X.exe'`, after leading VAR=value assignments.
func program(args []string) (string, []string) {
	for len(args) > 0 && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(args[0]) {
		args = args[1:]
	}
	if len(args) > 0 && args[0] == "&" {
		args = args[1:]
	}
	if len(args) >= 3 && args[0] == "go" && args[1] == "run" && strings.HasPrefix(args[2], "./cmd/") {
		return strings.TrimPrefix(args[2], "./cmd/"), args[3:]
	}
	if len(args) == 0 {
		return "", nil
	}
	name := args[0]
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSuffix(name, ".exe")
	for _, b := range binaries {
		if name == b {
			return b, args[1:]
		}
	}
	return "", nil
}

// placeholder stands for what a reader substitutes ($ADMIN, $env:X, $(...)).
func placeholder(w string) string {
	if strings.Contains(w, "$") {
		return "x"
	}
	return w
}

// stdFlag are the binaries using the standard flag package (not cobra).
var stdFlag = map[string]bool{"mxlab": true, "mxbench": true}

var usageLine = regexp.MustCompile(`(?m)^Usage:\n  (.*)$`)

// Every mxprobe command shown in README.md and docs/ is valid as written:
// its subcommands exist and each flag exists and accepts the value shown
// (the binary parses the line, with --help so nothing runs). Scripts named
// exist and are executable. The commands that run locally are also run for
// real, in internal/e2e (the demo, controller dev with an agent, the CLI
// against them) and in TestScriptRunsEveryModule.
func TestDocumentedCommandsParse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	bin := buildBinaries(t)
	checked := 0
	for _, c := range docCommands(t) {
		name, args := program(c.args)
		if name == "" {
			if c.args[0] == "go" && len(c.args) > 1 && (c.args[1] == "test" || c.args[1] == "run" || c.args[1] == "-C") {
				// Packages and directories named exist.
				for i, a := range c.args {
					if d := strings.TrimSuffix(a, "/..."); strings.HasPrefix(a, "./") && d != "." || i > 0 && c.args[i-1] == "-C" {
						if st, err := os.Stat(filepath.Join(repoRoot(t), d)); err != nil || !st.IsDir() && !strings.HasSuffix(d, ".go") {
							t.Errorf("%s: %q: %s does not exist (%v)", c.file, c.line, d, err)
						}
					}
				}
				checked++
				continue
			}
			if s := c.args[0]; strings.HasPrefix(s, "scripts/") || strings.HasPrefix(s, "deploy/") {
				st, err := os.Stat(filepath.Join(repoRoot(t), s))
				if err != nil || st.Mode()&0o111 == 0 {
					t.Errorf("%s: %q: script %s missing or not executable (%v)", c.file, c.line, s, err)
				}
				checked++
			}
			continue
		}
		checked++
		var argv []string
		for _, a := range args {
			if strings.HasPrefix(a, "[") || strings.HasSuffix(a, "]") {
				continue // documentation syntax for optional parts: [--idempotency-key K]
			}
			argv = append(argv, placeholder(a))
		}
		cmd := exec.Command(filepath.Join(bin, name), append(argv, "--help")...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if stdFlag[name] {
			// The flag package stops at --help after parsing the flags
			// before it: exit 0 from flag.Parse, 2 from a FlagSet that
			// returns ErrHelp to its caller; a bad flag or value is
			// reported before the usage, so the usage comes first only
			// when every flag before --help parsed.
			// flag.Parse names the program by its path.
			ee, isExit := err.(*exec.ExitError)
			first, _, _ := strings.Cut(out.String(), "\n")
			usage := strings.HasPrefix(first, "Usage of ") && strings.HasSuffix(first, name+":")
			if err != nil && (!isExit || ee.ExitCode() != 2) || !usage {
				t.Errorf("%s: %q does not parse: %v\n%s", c.file, c.line, err, out.String())
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %q does not parse: %v\n%s", c.file, c.line, err, out.String())
			continue
		}
		m := usageLine.FindStringSubmatch(out.String())
		if m == nil {
			t.Errorf("%s: %q: no usage in its help:\n%s", c.file, c.line, out.String())
			continue
		}
		// The help shown is the command the line names: its path is a
		// prefix of the line, and no unknown subcommand follows it.
		path := strings.Fields(m[1])[1:]
		var cmdPath []string
		for _, w := range path {
			if w != strings.ToLower(w) || strings.HasPrefix(w, "[") {
				break
			}
			cmdPath = append(cmdPath, w)
		}
		if len(argv) < len(cmdPath) || strings.Join(argv[:len(cmdPath)], " ") != strings.Join(cmdPath, " ") {
			t.Errorf("%s: %q: help is for %q", c.file, c.line, m[1])
			continue
		}
		if rest := argv[len(cmdPath):]; strings.Contains(out.String(), "Available Commands:") && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			t.Errorf("%s: %q: %q is not a subcommand of %q", c.file, c.line, rest[0], m[1])
		}
	}
	if checked < 40 {
		t.Errorf("only %d documented commands checked: the extraction broke", checked)
	}
	t.Logf("%d documented mxprobe commands and scripts checked", checked)
}
