// Package text writes the small pieces of English that titles, summaries and
// dashboard cells share: counted nouns ("1 symptom", "3 symptoms") and lists
// ("a, b and c"), and the clipping, empty-value dash and PowerShell quoting of
// values in evidence and remediation. One owner, so no page, notifier or summary writes
// "1 symptoms" again.
package text
