package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// ErrUnknownKey marks a configuration file key that no setting declares.
var ErrUnknownKey = errors.New("config: unknown key")

// Key documents one setting.
type Key struct {
	Name    string // dotted, e.g. "raft.listen"
	Default any
	Help    string
	// NoFlag: the key is settable by file and env only.
	NoFlag bool
	// CommaList: a list flag that also splits its value on commas
	// (--controllers a:7400,b:7400), as the environment variable does.
	// Lists of paths and URIs repeat the flag instead: a path may hold a
	// comma.
	CommaList bool
}

// EnvName is the environment variable for a key.
func EnvName(key string) string {
	return "MXPROBE_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// FlagName is the command-line flag for a key.
func FlagName(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, ".", "-"), "_", "-")
}

// Only keeps the keys named (and every key under a named "prefix.").
func Only(keys []Key, names ...string) []Key {
	return filterKeys(keys, names, true)
}

// Without drops the keys named (and every key under a named "prefix.").
func Without(keys []Key, names ...string) []Key {
	return filterKeys(keys, names, false)
}

func filterKeys(keys []Key, names []string, keep bool) []Key {
	var out []Key
	for _, k := range keys {
		match := false
		for _, n := range names {
			if k.Name == n || strings.HasPrefix(k.Name, n+".") {
				match = true
			}
		}
		if match == keep {
			out = append(out, k)
		}
	}
	return out
}

// WithDefault returns keys with name's default replaced (a command that
// runs with another default than the file/env/flag loader's, e.g.
// controller dev listening on loopback).
func WithDefault(keys []Key, name string, def any) []Key {
	out := append([]Key(nil), keys...)
	for i := range out {
		if out[i].Name == name {
			out[i].Default = def
		}
	}
	return out
}

// AddFlags declares one flag per key on fs.
func AddFlags(fs *pflag.FlagSet, keys []Key) {
	for _, k := range keys {
		if k.NoFlag {
			continue
		}
		name := FlagName(k.Name)
		switch d := k.Default.(type) {
		case string:
			fs.String(name, d, k.Help)
		case bool:
			fs.Bool(name, d, k.Help)
		case int:
			fs.Int(name, d, k.Help)
		case time.Duration:
			DurationFlag(fs, name, d, k.Help)
		case float64:
			fs.Float64(name, d, k.Help)
		case []string:
			if k.CommaList {
				fs.StringSlice(name, d, k.Help)
			} else {
				fs.StringArray(name, d, k.Help)
			}
		default:
			panic(fmt.Sprintf("config: key %s: unsupported default type %T", k.Name, d))
		}
	}
}

// Load fills out (a struct with mapstructure tags matching the key names)
// from defaults, the file (if non-empty), the environment and the flags that
// were set on fs.
func Load(keys []Key, file string, fs *pflag.FlagSet, out any) error {
	v := viper.New()
	v.SetEnvPrefix("MXPROBE")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	known := map[string]bool{}
	for _, k := range keys {
		known[k.Name] = true
		v.SetDefault(k.Name, k.Default)
		if fs != nil && !k.NoFlag {
			if f := fs.Lookup(FlagName(k.Name)); f != nil {
				if err := v.BindPFlag(k.Name, f); err != nil {
					return fmt.Errorf("config: bind flag %s: %w", f.Name, err)
				}
			}
		}
	}
	if file != "" {
		fv := viper.New()
		fv.SetConfigFile(file)
		if ext := strings.ToLower(strings.TrimPrefix(fileExt(file), ".")); ext != "json" && ext != "toml" {
			fv.SetConfigType("yaml")
		}
		if err := fv.ReadInConfig(); err != nil {
			return fmt.Errorf("config: read %s: %w", file, err)
		}
		var unknown []string
		for _, k := range fv.AllKeys() {
			if !known[k] {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return fmt.Errorf("%w in %s: %s (see docs/configuration.md)", ErrUnknownKey, file, strings.Join(unknown, ", "))
		}
		if err := v.MergeConfigMap(fv.AllSettings()); err != nil {
			return fmt.Errorf("config: merge %s: %w", file, err)
		}
	}
	// Read every key through v.Get so env and flags apply, then decode.
	settings := map[string]any{}
	for _, k := range keys {
		val := v.Get(k.Name)
		if _, ok := k.Default.(time.Duration); ok {
			d, err := durationSetting(val)
			if err != nil {
				return fmt.Errorf("config: %s (%s): %w", k.Name, sources(k), err)
			}
			val = d
		}
		setNested(settings, strings.Split(k.Name, "."), val)
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           out,
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			stringToSliceHook,
		),
	})
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := dec.Decode(settings); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// sources names where a key can be set, for error messages.
func sources(k Key) string {
	if k.NoFlag {
		return "file or " + EnvName(k.Name)
	}
	return "file, " + EnvName(k.Name) + " or --" + FlagName(k.Name)
}

// stringToSliceHook splits comma-separated env values into lists.
func stringToSliceHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() == reflect.String && to.Kind() == reflect.Slice && to.Elem().Kind() == reflect.String {
		s := strings.TrimSpace(data.(string))
		if s == "" {
			return []string{}, nil
		}
		parts := strings.Split(s, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts, nil
	}
	return data, nil
}

func setNested(m map[string]any, path []string, val any) {
	for len(path) > 1 {
		sub, ok := m[path[0]].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[path[0]] = sub
		}
		m, path = sub, path[1:]
	}
	m[path[0]] = val
}

func fileExt(p string) string {
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[i:]
	}
	return ""
}

// DefaultAgentStateDir is where an agent keeps its state unless told: the
// service's %ProgramData%\mxprobe\state on Windows, else $XDG_STATE_HOME
// when set, /var/lib/mxprobe-agent for root, ~/.local/state for others
// (then the cache directory) - never the working directory,
// so `go run ./cmd/agent run` in a clone leaves nothing in it.
func DefaultAgentStateDir() string {
	const name = "mxprobe-agent"
	if runtime.GOOS == "windows" {
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, "mxprobe", "state")
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, name)
	}
	if os.Geteuid() == 0 {
		return filepath.Join("/var/lib", name)
	}
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return filepath.Join(h, ".local", "state", name)
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, name)
	}
	return filepath.Join(os.TempDir(), name)
}

// DefaultHostname is os.Hostname or "localhost".
func DefaultHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
