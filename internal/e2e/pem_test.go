package e2e

import (
	"crypto/x509"
	"encoding/pem"

	"github.com/mxprobe/mxprobe/internal/controller/pki"
)

func pkcs8PEM(ca *pki.CA) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
