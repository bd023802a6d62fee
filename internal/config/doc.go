// Package config loads mxprobe's settings with viper from, in rising
// precedence, built-in defaults, a YAML file (--config), MXPROBE_* environment
// variables (dots become underscores: raft.listen -> MXPROBE_RAFT_LISTEN) and
// command-line flags (dots become dashes: --raft-listen).
//
// Every setting is a documented Key; a key in the file that no Key declares is
// an error, never silently ignored. docs/configuration.md lists every key and a
// test keeps it in step with the Key lists.
package config
