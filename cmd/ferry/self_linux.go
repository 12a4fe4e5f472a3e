package main

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// watchSelf calls changed after an interface of this host gains or loses
// an address, as the kernel reports it on a netlink socket
// (RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR), until stop. A burst of
// changes may call it once per message; a lost message (ENOBUFS) calls it
// too, since the set is read afresh each time.
func watchSelf(changed func()) (stop func(), err error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Non-blocking, so reads wait in the runtime's poller and Close ends
	// them.
	f := os.NewFile(uintptr(fd), "netlink")
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 32<<10)
		for {
			_, err := f.Read(buf)
			if err != nil && !errors.Is(err, unix.ENOBUFS) {
				return // closed
			}
			changed()
		}
	}()
	return func() { f.Close(); <-done }, nil
}
