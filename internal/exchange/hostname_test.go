package exchange

import "testing"

func TestMatchHost(t *testing.T) {
	tests := []struct {
		pattern, host string
		want          NameMatch
	}{
		{"mail.contoso.com", "mail.contoso.com", NameExact},
		{"MAIL.Contoso.com.", "mail.contoso.COM", NameExact},
		{"*.contoso.com", "mail.contoso.com", NameWildcard},
		{"*.contoso.com", "a.b.contoso.com", NameNoMatch},
		{"*.contoso.com", "contoso.com", NameNoMatch},
		{"*.contoso.com", ".contoso.com", NameNoMatch},
		{"*", "mail", NameNoMatch},
		{"*.*.com", "a.b.com", NameNoMatch},
		{"mail.contoso.com", "mail2.contoso.com", NameNoMatch},
		{"", "x", NameNoMatch},
	}
	for _, tt := range tests {
		if got := MatchHost(tt.pattern, tt.host); got != tt.want {
			t.Errorf("MatchHost(%q, %q) = %q, want %q", tt.pattern, tt.host, got, tt.want)
		}
	}
}

func TestMatchCertificateName(t *testing.T) {
	c := issue(t, nil, name("EDGE01", "", ""), []string{"EDGE01", "edge01.contoso.com", "*.hybrid.contoso.com"}, t2025, t2026)
	if got := MatchCertificateName(c, "edge01"); got != NameExact {
		t.Errorf("CN match = %q", got)
	}
	if got := MatchCertificateName(c, "EDGE01.contoso.com"); got != NameExact {
		t.Errorf("SAN match = %q", got)
	}
	if got := MatchCertificateName(c, "smtp.hybrid.contoso.com"); got != NameWildcard {
		t.Errorf("wildcard SAN match = %q", got)
	}
	if got := MatchCertificateName(c, "mail.contoso.com"); got != NameNoMatch {
		t.Errorf("no match = %q", got)
	}
	if got := MatchCertificateName(nil, "x"); got != NameNoMatch {
		t.Errorf("nil cert = %q", got)
	}
}
