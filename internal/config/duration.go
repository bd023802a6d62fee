package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// ErrNoUnit marks a duration written without a unit ("10"): Go would read
// it as nanoseconds, which silently disables a 30-day expiry warning.
var ErrNoUnit = errors.New("duration has no unit")

const day = 24 * time.Hour

// ParseDuration reads a duration the way every mxprobe setting and flag does:
// Go syntax (90s, 15m, 720h, 1h30m) plus d for days (30d, 1d12h, 1.5d).
// A number without a unit is refused (ErrNoUnit), except 0.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration: write e.g. 90s, 15m, 12h or 30d")
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("%w: %q; write %ss, %sm, %sh or %sd", ErrNoUnit, s, s, s, s, s)
	}
	rest, neg := s, false
	if strings.HasPrefix(rest, "-") {
		rest, neg = rest[1:], true
	} else {
		rest = strings.TrimPrefix(rest, "+")
	}
	var days time.Duration
	if i := strings.IndexByte(rest, 'd'); i > 0 {
		n, err := strconv.ParseFloat(rest[:i], 64)
		// Written so that NaN fails too, and the product converts exactly
		// (float64(MaxInt64) is 2^63, one past the largest Duration).
		if err != nil || !(n >= 0 && n*float64(day) < float64(math.MaxInt64)) {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 90s, 15m, 12h or 30d", s)
		}
		days = time.Duration(n * float64(day))
		rest = rest[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil || d < 0 {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 90s, 15m, 12h or 30d", s)
		}
	} else if days == 0 {
		return 0, fmt.Errorf("invalid duration %q: want e.g. 90s, 15m, 12h or 30d", s)
	}
	if days > math.MaxInt64-d {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	if neg {
		return -(days + d), nil
	}
	return days + d, nil
}

// FormatDuration writes d the way ParseDuration reads it, in whole days when
// it is a multiple of a day (30d rather than 720h0m0s), trimming zero units.
func FormatDuration(d time.Duration) string {
	if d != 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// durationFlag is a pflag.Value parsed with ParseDuration, so flags accept
// what the file and the environment accept.
type durationFlag time.Duration

func (f *durationFlag) String() string { return FormatDuration(time.Duration(*f)) }
func (f *durationFlag) Type() string   { return "duration" }
func (f *durationFlag) Set(s string) error {
	d, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*f = durationFlag(d)
	return nil
}

// DurationFlag declares a duration flag read with ParseDuration (days
// accepted, unit-less numbers refused); read it with GetDuration.
func DurationFlag(fs *pflag.FlagSet, name string, def time.Duration, usage string) {
	v := durationFlag(def)
	fs.Var(&v, name, usage)
}

// GetDuration reads a flag declared with DurationFlag.
func GetDuration(fs *pflag.FlagSet, name string) (time.Duration, error) {
	f := fs.Lookup(name)
	if f == nil {
		return 0, fmt.Errorf("flag --%s not declared", name)
	}
	if v, ok := f.Value.(*durationFlag); ok {
		return time.Duration(*v), nil
	}
	return ParseDuration(f.Value.String())
}

var durationType = reflect.TypeOf(time.Duration(0))

// durationSetting converts a duration key's value as viper found it (the
// default, a YAML scalar, an env string or a flag's text) and refuses
// numbers without a unit: YAML `warning: 10` is not ten nanoseconds.
func durationSetting(v any) (time.Duration, error) {
	switch x := v.(type) {
	case time.Duration:
		return x, nil
	case string:
		return ParseDuration(x)
	case nil:
		return 0, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return ParseDuration(fmt.Sprint(v))
	}
	return 0, fmt.Errorf("want a duration such as 90s, 15m, 12h or 30d, got %v", v)
}
