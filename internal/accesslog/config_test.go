package accesslog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Validate refuses a file OpenFile could not open, and creates nothing.
func TestConfigValidateFile(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.log")
	if err := os.WriteFile(existing, []byte("line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, access, want string // want: "" valid, else a fragment of the problem
	}{
		{"stderr", Stderr, ""},
		{"new file", filepath.Join(dir, "new.log"), ""},
		{"existing file", existing, ""},
		{"missing directory", filepath.Join(dir, "no", "access.log"), "no such file or directory"},
		{"a directory", dir, "is a directory"},
		{"under a file", filepath.Join(existing, "access.log"), "not a directory"},
		{"empty", "", `must be "stderr" or a file path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Access: tt.access, Format: FormatJSON, Flush: DefaultFlush}
			var got []string
			c.Validate(func(key, msg string) { got = append(got, key+": "+msg) })
			switch {
			case tt.want == "" && len(got) > 0:
				t.Errorf("refused: %q", got)
			case tt.want != "" && (len(got) != 1 || !strings.HasPrefix(got[0], "access: ") || !strings.Contains(got[0], tt.want)):
				t.Errorf("got %q, want one access problem with %q", got, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "new.log")); err == nil {
		t.Error("Validate created the file")
	}
	if b, _ := os.ReadFile(existing); string(b) != "line\n" {
		t.Errorf("Validate changed the existing file: %q", b)
	}
}
