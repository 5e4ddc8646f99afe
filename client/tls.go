package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LoadTLS returns the TLS configuration of a client of a cluster that runs
// with --certs-dir: the certificate and key of user (client.USER.crt and
// client.USER.key, made by `dkv cert create-client USER`) to present to
// the nodes, and the cluster's CA (ca.crt) to verify them, all read from
// certsDir. Connections use TLS 1.3.
func LoadTLS(certsDir, user string) (*tls.Config, error) {
	if user == "" || strings.ContainsAny(user, `/\`) || user == "." || user == ".." {
		return nil, fmt.Errorf("client: bad user name %q", user)
	}
	caPath := filepath.Join(certsDir, "ca.crt")
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		return nil, fmt.Errorf("client: read the CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("client: %s holds no PEM certificate", caPath)
	}
	certPath := filepath.Join(certsDir, "client."+user+".crt")
	keyPath := filepath.Join(certsDir, "client."+user+".key")
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("client: no certificate for user %q in %s (dkv cert create-client %s): %w",
				user, certsDir, user, err)
		}
		return nil, fmt.Errorf("client: load %s and %s: %w", certPath, keyPath, err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS13,
	}, nil
}
