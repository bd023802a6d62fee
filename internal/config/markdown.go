package config

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteMarkdown renders docs/configuration.md from the key lists.
func WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString(`# Configuration

Generated from ` + "`internal/config`" + ` by ` + "`go run ./internal/config/cmd/gendoc > docs/configuration.md`" + `; do not edit by hand.

Both binaries read settings with viper, in rising precedence: built-in defaults, a YAML file
(` + "`--config FILE`" + `), environment variables ` + "`MXPROBE_<KEY>`" + ` (dots become underscores) and
command-line flags (dots and underscores become dashes). A key in the file that is not listed here is an
error. Lists are YAML sequences in the file and comma-separated in the environment.
Durations use Go syntax plus ` + "`d`" + ` for days (` + "`90s`, `15m`, `12h`, `30d`, `1d12h`" + `); a number without a
unit is refused (except ` + "`0`" + `), in the file as on the command line.
`)
	section := func(title, cmd string, keys []Key) {
		fmt.Fprintf(&b, "\n## %s (`%s`)\n\n| key | env | flag | default | meaning |\n|---|---|---|---|---|\n", title, cmd)
		for _, k := range keys {
			flag := "--" + FlagName(k.Name)
			if k.NoFlag {
				flag = "(none)"
			}
			fmt.Fprintf(&b, "| `%s` | `%s` | `%s` | %s | %s |\n", k.Name, EnvName(k.Name), flag, defaultText(k), k.Help)
		}
	}
	section("Controller", "controller run", ControllerKeys())
	section("Agent", "agent run, agent check", AgentKeys())
	_, err := io.WriteString(w, b.String())
	return err
}

func defaultText(k Key) string {
	switch d := k.Default.(type) {
	case string:
		if k.Name == "node_id" || k.Name == "agent_id" || k.Name == "hostname" {
			return "host name"
		}
		if k.Name == "state_dir" {
			return "the user's state directory (see help)"
		}
		if d == "" {
			return "(empty)"
		}
		return "`" + d + "`"
	case []string:
		if len(d) == 0 {
			return "(empty)"
		}
		return "`" + strings.Join(d, ",") + "`"
	case time.Duration:
		return "`" + FormatDuration(d) + "`"
	default:
		return fmt.Sprintf("`%v`", d)
	}
}
