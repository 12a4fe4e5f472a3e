package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// Socket is the environment variable systemd sets for a Type=notify unit.
const Socket = "NOTIFY_SOCKET"

// Notify sends state (newline-separated KEY=value assignments) to the
// service manager. Without $NOTIFY_SOCKET (not run by systemd) it does
// nothing and returns nil.
func Notify(state string) error {
	path := os.Getenv(Socket)
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // the abstract namespace (sd_notify(3))
	} else if path[0] != '/' {
		return fmt.Errorf("sd_notify: %s=%q is neither a path nor an abstract name", Socket, path)
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// Ready says start-up is done: ferry listens on every listener. status is
// shown by systemctl status.
func Ready(status string) error {
	return Notify("READY=1\nSTATUS=" + oneLine(status))
}

// Reloading says a reload (SIGHUP) has begun; Ready ends it. The
// monotonic timestamp lets systemd tell this reload from an earlier one
// (required with Type=notify-reload, harmless with Type=notify).
func Reloading() error {
	s := "RELOADING=1"
	if us, ok := monotonicUsec(); ok {
		s += fmt.Sprintf("\nMONOTONIC_USEC=%d", us)
	}
	return Notify(s)
}

// Stopping says ferry is draining and will exit.
func Stopping() error {
	return Notify("STOPPING=1\nSTATUS=draining")
}

func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }
