package text

import (
	"strconv"
	"strings"
)

// Count is n followed by noun, pluralised when n != 1: Count(1, "symptom") is
// "1 symptom", Count(0, "symptom") is "0 symptoms". Regular English plurals
// only (see Plural); irregular nouns use CountAs.
func Count(n int, noun string) string {
	return CountAs(n, noun, Plural(noun))
}

// CountAs is Count with an explicit plural: CountAs(2, "observation by peer",
// "observations by peers").
func CountAs(n int, singular, plural string) string {
	if n == 1 {
		return "1 " + singular
	}
	return strconv.Itoa(n) + " " + plural
}

// Noun is singular when n == 1 and the regular plural otherwise, without the
// number: "server" / "servers".
func Noun(n int, singular string) string {
	if n == 1 {
		return singular
	}
	return Plural(singular)
}

// Plural is the regular English plural of a noun: "symptom" -> "symptoms",
// "address" -> "addresses", "policy" -> "policies", "key" -> "keys". The
// last word of a phrase is pluralised ("peer observation" -> "peer
// observations").
func Plural(noun string) string {
	if noun == "" {
		return noun
	}
	lower := strings.ToLower(noun)
	switch {
	case strings.HasSuffix(lower, "s"), strings.HasSuffix(lower, "x"), strings.HasSuffix(lower, "z"),
		strings.HasSuffix(lower, "ch"), strings.HasSuffix(lower, "sh"):
		return noun + "es"
	case strings.HasSuffix(lower, "y") && len(lower) > 1 && !strings.ContainsRune("aeiou", rune(lower[len(lower)-2])):
		return noun[:len(noun)-1] + "ies"
	}
	return noun + "s"
}

// List joins items as English prose: "a", "a and b", "a, b and c".
func List(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
