package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
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
}

// EnvName is the environment variable for a key.
func EnvName(key string) string {
	return "MXPROBE_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// FlagName is the command-line flag for a key.
func FlagName(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, ".", "-"), "_", "-")
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
			fs.Duration(name, d, k.Help)
		case float64:
			fs.Float64(name, d, k.Help)
		case []string:
			fs.StringArray(name, d, k.Help)
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
		setNested(settings, strings.Split(k.Name, "."), v.Get(k.Name))
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

// DefaultHostname is os.Hostname or "localhost".
func DefaultHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
