package auth

import (
	"context"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// BenchmarkVerify: what a request pays to authenticate, bcrypt at the
// default cost (what htpasswd -B makes) next to a cache hit.
func BenchmarkVerify(b *testing.B) {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("bcrypt-cost10", func(b *testing.B) {
		u := New(map[string][]byte{"alice": h}, 0)
		for b.Loop() {
			if ok, _ := u.Verify(ctx, "alice", "pw"); !ok {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		u := New(map[string][]byte{"alice": h}, DefaultCacheTTL)
		u.Verify(ctx, "alice", "pw")
		b.ReportAllocs()
		for b.Loop() {
			if ok, _ := u.Verify(ctx, "alice", "pw"); !ok {
				b.Fatal("rejected")
			}
		}
	})
}
