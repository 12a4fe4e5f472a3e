package tunnel

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Parking (issue 9: memory per idle tunnel). Most tunnels are idle most of
// the time (a browser's keep-alive connection, a chat, an SSH session
// between keystrokes), and an idle direction was a goroutine waiting in
// the runtime's poller: a stack and a g. A direction of a Start relay that
// has moved nothing for parkAfter ends its goroutine instead: one epoll
// instance of ferry's own watches its source socket (one-shot), and a new
// goroutine resumes it when the socket is readable (data, EOF or error),
// when the tunnel's idle timeout is due, or when the relay fails. A busy
// direction never parks, so the data path pays nothing; waking costs one
// epoll_ctl and a goroutine start.

// parkAfter is how long a silent direction waits in the runtime's poller
// before it parks.
var parkAfter = 250 * time.Millisecond

// parkHook, when set (by tests), is called each time a direction parks.
var parkHook atomic.Pointer[func()]

// errPark is rearm's answer for a direction silent for parkAfter.
var errPark = errors.New("park")

var parking struct {
	once   sync.Once
	epfd   int // -1 if parking is unavailable: directions wait as before
	mu     sync.Mutex
	broken bool // epoll_wait failed: no more parking
	next   uint64
	parked map[uint64]*half
}

func startParking() {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		parking.epfd = -1
		return
	}
	parking.epfd = fd
	parking.parked = map[uint64]*half{}
	go pollParked(fd)
}

// pollParked resumes the parked directions whose sockets are readable.
func pollParked(epfd int) {
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			stopParking() // not expected
			return
		}
		for _, ev := range events[:n] {
			if h := takeParked(uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32); h != nil {
				go h.resume()
			}
		}
	}
}

// stopParking gives up parking for good: every parked direction resumes
// and, like every direction from now on, waits in the runtime's poller.
func stopParking() {
	parking.mu.Lock()
	parking.broken = true
	ids := make([]uint64, 0, len(parking.parked))
	for id := range parking.parked {
		ids = append(ids, id)
	}
	parking.mu.Unlock()
	for _, id := range ids {
		if h := takeParked(id); h != nil {
			go h.resume()
		}
	}
}

// takeParked removes the direction parked as id, if it still is, and
// returns it: the caller owns it now and must resume it.
func takeParked(id uint64) *half {
	parking.mu.Lock()
	defer parking.mu.Unlock()
	h := parking.parked[id]
	if h == nil {
		return nil
	}
	delete(parking.parked, id)
	h.parkID = 0
	if r := h.r; r.wake != nil && r.up.parkID == 0 && r.down.parkID == 0 {
		r.wake.Stop()
	}
	return h
}

// parkIt parks h, watching in, the socket its source reads. It reports
// true if h's goroutine must end now: h is another's to resume. False
// means h could not be parked and its goroutine goes on.
func (h *half) parkIt(in syscall.RawConn) bool {
	parking.once.Do(startParking)
	if parking.epfd < 0 {
		return false
	}
	r := h.r
	parking.mu.Lock()
	if parking.broken {
		parking.mu.Unlock()
		return false
	}
	parking.next++
	id := parking.next
	h.parkID = id
	parking.parked[id] = h
	if r.idle > 0 {
		// One timer a relay: both directions' timeout is the tunnel's.
		due := time.Duration(r.lastActive.Load() + int64(r.idle) - time.Now().UnixNano())
		if r.wake == nil {
			r.wake = time.AfterFunc(due, r.idleDue)
		} else {
			r.wake.Reset(due)
		}
	}
	op := unix.EPOLL_CTL_MOD
	if !h.polled {
		op, h.polled = unix.EPOLL_CTL_ADD, true
	}
	// From the epoll_ctl on, h may be resumed on another goroutine: write
	// nothing of h after the unlock.
	parking.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	var err error
	cerr := in.Control(func(fd uintptr) { err = unix.EpollCtl(parking.epfd, op, int(fd), &ev) })
	if cerr == nil && err == nil {
		if f := parkHook.Load(); f != nil {
			(*f)()
		}
		return true
	}
	// Not watched: take h back, unless the relay failing took it first.
	return takeParked(id) == nil
}

// ParkedDirections reports how many relay directions are parked now:
// silent, each watched by ferry's own epoll instead of a goroutine.
func ParkedDirections() int {
	parking.mu.Lock()
	defer parking.mu.Unlock()
	return len(parking.parked)
}

// unpark resumes h if it is parked: the relay failed, and h ends on the
// closed conn.
func (h *half) unpark() {
	parking.mu.Lock()
	id := h.parkID
	parking.mu.Unlock()
	if id != 0 {
		if h := takeParked(id); h != nil {
			go h.resume()
		}
	}
}

// idleDue runs when a tunnel with a parked direction may have reached its
// idle timeout: if it has, a parked direction resumes and ends with
// ErrIdle, and its failing the relay ends the other; if a direction
// moved meanwhile, it looks again when the timeout is next due.
func (r *relay) idleDue() {
	parking.mu.Lock()
	id := r.up.parkID
	if id == 0 {
		id = r.down.parkID
	}
	if id != 0 {
		if due := time.Duration(r.lastActive.Load() + int64(r.idle) - time.Now().UnixNano()); due > 0 {
			r.wake.Reset(due)
			id = 0
		}
	}
	parking.mu.Unlock()
	if id != 0 {
		if h := takeParked(id); h != nil {
			h.resume()
		}
	}
}

// parkable reports whether h may park.
func (h *half) parkable() bool { return h.r.park > 0 && !h.noPark }

// touch notes that h moved a byte, or (re)started.
func (h *half) touch() {
	r := h.r
	if !h.parkable() {
		r.touch()
		return
	}
	now := time.Now().UnixNano()
	h.quiet = now
	if r.idle > 0 {
		r.lastActive.Store(now)
	}
}

// deadline is when h's wait is to be looked at again: at the tunnel's
// idle timeout or when h is due to park, whichever is sooner; zero for
// never.
func (h *half) deadline() time.Time {
	r := h.r
	var d int64
	if r.idle > 0 {
		d = r.lastActive.Load() + int64(r.idle)
	}
	if h.parkable() {
		if p := h.quiet + int64(r.park); d == 0 || p < d {
			d = p
		}
	}
	if d == 0 {
		return time.Time{}
	}
	return time.Unix(0, d)
}

// arm sets src's read deadline for h's wait.
func (h *half) arm(src Stream) error {
	if h.r.idle <= 0 && !h.parkable() {
		return nil
	}
	return src.SetReadDeadline(h.deadline())
}

// rearm decides what a read error means: ErrIdle when the tunnel has been
// silent both ways for the idle timeout, errPark when this direction has
// for parkAfter; for a deadline that fired while the tunnel was busy, nil,
// the deadline pushed on. Other errors are returned as they are.
func (h *half) rearm(src Stream, err error) error {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	r := h.r
	now := time.Now().UnixNano()
	if r.idle > 0 && now >= r.lastActive.Load()+int64(r.idle) {
		return ErrIdle
	}
	if h.parkable() && now >= h.quiet+int64(r.park) {
		return errPark
	}
	return src.SetReadDeadline(h.deadline())
}

// neverPark is h failing to park: it waits in the runtime's poller from
// now on.
func (h *half) neverPark(src Stream) error {
	h.noPark = true
	return h.arm(src)
}

// resumed starts a parked direction again; its tunnel may have reached
// its idle timeout meanwhile.
func (h *half) resumed() error {
	r := h.r
	now := time.Now().UnixNano()
	if r.idle > 0 && now >= r.lastActive.Load()+int64(r.idle) {
		return ErrIdle
	}
	h.quiet = now
	return nil
}
