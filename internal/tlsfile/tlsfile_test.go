package tlsfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolve(t *testing.T) {
	tests := []struct{ dir, path, want string }{
		{"/etc/ferry", "ca.pem", "/etc/ferry/ca.pem"},
		{"/etc/ferry", "/abs/ca.pem", "/abs/ca.pem"},
		{"", "ca.pem", "ca.pem"},
	}
	for _, tt := range tests {
		if got := Resolve(tt.dir, tt.path); got != tt.want {
			t.Errorf("Resolve(%q, %q) = %q, want %q", tt.dir, tt.path, got, tt.want)
		}
	}
}

func TestCertPoolNeedsACertificate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(path, []byte("not a certificate\n"), 0o600)
	if _, err := CertPool(path); err == nil {
		t.Fatal("a file without a PEM certificate was taken as a pool")
	}
	if _, err := CertPool(path + ".missing"); err == nil {
		t.Fatal("a missing file was taken as a pool")
	}
}
