package protolog

import (
	"slices"
	"testing"
	"time"
)

func TestParseCondensedCert(t *testing.T) {
	tests := []struct {
		name, data              string
		subject, issuer, serial string
		thumb                   string
		nb, na                  time.Time
		sans                    []string
	}{
		{
			name:    "ca-issued, US dates",
			data:    "CN=mail.contoso.com, O=Contoso, C=NL CN=DigiCert SHA2 Secure Server CA, O=DigiCert Inc, C=US 0A1B2C3D4E5F60718293A4B5C6D7E8F9 B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C 5/1/2019 12:00:00 AM 5/1/2021 12:00:00 PM mail.contoso.com;autodiscover.contoso.com",
			subject: "CN=mail.contoso.com, O=Contoso, C=NL", issuer: "CN=DigiCert SHA2 Secure Server CA, O=DigiCert Inc, C=US",
			serial: "0A1B2C3D4E5F60718293A4B5C6D7E8F9", thumb: "B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C",
			nb:   time.Date(2019, 5, 1, 0, 0, 0, 0, time.UTC),
			na:   time.Date(2021, 5, 1, 12, 0, 0, 0, time.UTC),
			sans: []string{"mail.contoso.com", "autodiscover.contoso.com"},
		},
		{
			name:    "self-signed, ISO dates, 40-hex serial",
			data:    "CN=EDGE01 CN=EDGE01 3C1F8E6A9B2D4C5E6F708192A3B4C5D6E7F80912 7A6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D1E0F9A8B 2019-01-01T00:00:00.000Z 2024-01-01T00:00:00.000Z EDGE01;EDGE01.contoso.local",
			subject: "CN=EDGE01", issuer: "CN=EDGE01",
			serial: "3C1F8E6A9B2D4C5E6F708192A3B4C5D6E7F80912", thumb: "7A6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D1E0F9A8B",
			nb:   time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC),
			na:   time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
			sans: []string{"EDGE01", "EDGE01.contoso.local"},
		},
		{
			name:    "quoted RDN with comma and spaces",
			data:    `CN=mail.contoso.com, O="Contoso, Ltd", C=NL CN=R3, O=Let's Encrypt, C=US 04A1 AABBCCDDEEFF00112233445566778899AABBCCDD 02.05.2019 06:00:00 31.07.2019 06:00:00`,
			subject: `CN=mail.contoso.com, O="Contoso, Ltd", C=NL`, issuer: "CN=R3, O=Let's Encrypt, C=US",
			serial: "04A1", thumb: "AABBCCDDEEFF00112233445566778899AABBCCDD",
			nb: time.Date(2019, 5, 2, 6, 0, 0, 0, time.UTC),
			na: time.Date(2019, 7, 31, 6, 0, 0, 0, time.UTC),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Certificate
			parseCondensedCert(tt.data, &c)
			if c.Subject != tt.subject || c.Issuer != tt.issuer || c.SerialNumber != tt.serial || c.Thumbprint != tt.thumb {
				t.Errorf("got subject=%q issuer=%q serial=%q thumb=%q", c.Subject, c.Issuer, c.SerialNumber, c.Thumbprint)
			}
			if !c.NotBefore.Equal(tt.nb) || !c.NotAfter.Equal(tt.na) {
				t.Errorf("dates %v %v (raw %q %q)", c.NotBefore, c.NotAfter, c.NotBeforeRaw, c.NotAfterRaw)
			}
			if !slices.Equal(c.AlternateNames, tt.sans) {
				t.Errorf("sans %q", c.AlternateNames)
			}
		})
	}
}

func TestParseCondensedCertNoThumbprintKeepsData(t *testing.T) {
	var c Certificate
	parseCondensedCert("garbage without any thumbprint", &c)
	if c.Subject != "garbage without any thumbprint" || c.Thumbprint != "" {
		t.Fatalf("%+v", c)
	}
}
