// Package netx is the connection plumbing that every front end (front,
// connect, socks, reverse) and the engine's upstream client (tunnel)
// share, so that each is written once:
//
//   - Peek shows what a peer has sent without taking it. A *net.TCPConn
//     on Linux is peeked in the socket (MSG_PEEK through the runtime
//     poller, under the read deadline) and stays the *net.TCPConn the
//     relay splices; any other conn is read ahead into a Conn, which
//     replays the bytes and which a relay unwraps to the conn under it.
//   - LingerClose ends a connection whose input was not all read with a
//     FIN, not a reset, within one stated bound (LingerTime, LingerBytes).
//   - RecordBatcher and BatchedTLS send the records of one TLS write in
//     one system call (HTTP/2's connections); DeadlineReader gives a
//     reader without deadlines (an HTTP/2 body) a net.Conn's.
//   - Tracker runs an accept loop with back-off, tracks each connection
//     with its context, and stops (Close) and drains (Drain) a server.
//
// It is a leaf: it imports only the standard library and x/sys, and no
// ferry package.
package netx
