package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// testCA is a certificate authority for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial int64

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "dkv test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate signed by ca, in PEM, with its key.
func (ca *testCA) issue(t *testing.T, cn string, usage x509.ExtKeyUsage, ips ...net.IP) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// TestLoadTLS: a client with LoadTLS's configuration talks to a node that
// requires a client certificate from the same CA; TLS 1.3 at least; a
// missing certificate or a bad user name is an error that says so.
func TestLoadTLS(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.crt"), ca.pem, 0o644))
	crt, key := ca.issue(t, "root", x509.ExtKeyUsageClientAuth)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "client.root.crt"), crt, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "client.root.key"), key, 0o600))

	cfg, err := LoadTLS(dir, "root")
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS13), cfg.MinVersion)

	// A node with mutual TLS.
	ncrt, nkey := ca.issue(t, "node", x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1))
	pair, err := tls.X509KeyPair(ncrt, nkey)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeNode{addr: lis.Addr().String(), data: newFakeData(), calls: map[string]int{}}
	serve(t, f, lis, grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	})))

	c := newClient(t, Config{Endpoints: []string{f.addr}, TLS: cfg})
	ctx := testContext(t, 10*time.Second)
	require.NoError(t, c.Put(ctx, []byte("k"), []byte("v")))
	v, err := c.Get(ctx, []byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))

	// Without a client certificate the node never becomes ready: nothing
	// is sent, and the write is not ambiguous.
	plain := newClient(t, Config{Endpoints: []string{f.addr}, TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}})
	err = plain.Put(testContext(t, 500*time.Millisecond), []byte("k"), []byte("w"))
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrAmbiguous)
	require.Equal(t, 1, f.count("Put"))

	_, err = LoadTLS(dir, "alice")
	require.ErrorContains(t, err, `no certificate for user "alice"`)
	_, err = LoadTLS(dir, "../root")
	require.ErrorContains(t, err, "bad user name")
	_, err = LoadTLS(t.TempDir(), "root")
	require.ErrorContains(t, err, "CA certificate")
}
