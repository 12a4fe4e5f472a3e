package test

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
)

// chainPKI is what the chaining tests need of TLS, made by the test: a CA
// (ca.pem), a server certificate for the remote ferry (remote.pem,
// remote.key: 127.0.0.1 and ferry.example.net) and a client certificate
// for the ingress ferry (laptop.pem, laptop.key: CN laptop), all in Dir
// under the names examples/ingress.toml and examples/remote.toml use.
type chainPKI struct {
	Dir    string
	Roots  *x509.CertPool
	Client tls.Certificate // laptop's, for Go clients
	Server tls.Certificate // remote's, for Go servers (an https origin)
}

func newChainPKI(t testing.TB) *chainPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ferry test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name string, block *pem.Block) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, base string) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
			tmpl.DNSNames = []string{"ferry.example.net", "localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		write(base+".pem", &pem.Block{Type: "CERTIFICATE", Bytes: der})
		write(base+".key", &pem.Block{Type: "PRIVATE KEY", Bytes: kd})
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	p := &chainPKI{Dir: dir, Roots: x509.NewCertPool()}
	p.Roots.AddCert(caCert)
	p.Server = leaf(2, "ferry.example.net", x509.ExtKeyUsageServerAuth, "remote")
	p.Client = leaf(3, "laptop", x509.ExtKeyUsageClientAuth, "laptop")
	return p
}

// Path is the absolute path of one of the files.
func (p *chainPKI) Path(name string) string { return filepath.Join(p.Dir, name) }
