// Package exporter exports the fleet to Prometheus from the replicated
// state, so every controller node answers the same series as the API: the
// certificates agents found (not-after / not-before, key present, duplicate
// identities), live probes (success, duration, negotiated TLS version per
// agent and target), open findings by code and severity per host and site,
// open incidents by scope, severity and state, when each agent was last
// seen, notification failures per target, and mxprobe_build_info.
//
// Names follow the conventions of blackbox_exporter and
// x509-certificate-exporter (base units, _timestamp_seconds, _total,
// _info); `promtool check metrics` runs on a real scrape in the tests.
//
// Cardinality is bounded on purpose: labels carry common names, not full
// distinguished names, serials or finding text; a label value is cut at
// MaxLabelLength; each family holds at most Config.MaxSeries series (the
// excess is counted in mxprobe_exporter_series_dropped). The collector
// computes everything at scrape time from the state (one consistent read
// per family); client_golang's const metrics carry no state between scrapes.
package exporter
