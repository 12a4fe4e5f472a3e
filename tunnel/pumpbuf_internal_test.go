package tunnel

import "testing"

// copyPump's buffer for a source that cannot park: small while reads
// are, large after one fills it, small again after a short one, so that
// the direction waits holding the small one; fixed stays large.
func TestPumpBuf(t *testing.T) {
	b := pumpBuf{smallSize: 2 << 10, bigSize: 16 << 10}
	buf := b.next(nil, 0)
	steps := []struct {
		n    int // what the read into buf returned
		want int // the next buffer's size
	}{
		{10, 2 << 10},       // short: stays small
		{2 << 10, 16 << 10}, // filled the small one
		{16 << 10, 16 << 10},
		{100, 2 << 10}, // short: waits with the small one
	}
	if len(buf) != 2<<10 {
		t.Fatalf("first buffer %d bytes, want the small one", len(buf))
	}
	for i, s := range steps {
		buf = b.next(buf, s.n)
		if len(buf) != s.want {
			t.Fatalf("step %d: read %d, next buffer %d bytes, want %d", i, s.n, len(buf), s.want)
		}
	}
	b.release()
	f := pumpBuf{fixed: true, smallSize: 2 << 10, bigSize: 16 << 10}
	if buf := f.next(f.next(nil, 0), 10); len(buf) != 16<<10 {
		t.Errorf("fixed: %d bytes after a short read, want the large one", len(buf))
	}
	f.release()
}
