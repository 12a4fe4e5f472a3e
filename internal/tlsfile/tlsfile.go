// Package tlsfile reads the TLS material a config names by path, relative
// to the config file: certificate pools and key pairs. A leaf: the front
// listener's TLS, upstreams and reverse mode all read their files here.
package tlsfile

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
)

// Resolve makes path relative to dir, the config file's directory; an
// absolute path, or an empty dir, leaves it as it is.
func Resolve(dir, path string) string {
	if filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// CertPool reads PEM certificates into a pool; a file with none is an
// error.
func CertPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// KeyPair reads a certificate and its key, both resolved against dir.
func KeyPair(dir, cert, key string) (tls.Certificate, error) {
	return tls.LoadX509KeyPair(Resolve(dir, cert), Resolve(dir, key))
}
