package tunnel

import (
	"fmt"
	"net/netip"
	"sync"
)

// assocCounts counts the open datagram associations, in all and by
// client (an IPv4 address, an IPv6 /64: clientKey), against the limits of
// UDPConfig.
type assocCounts struct {
	mu       sync.Mutex
	total    int
	byClient map[netip.Prefix]int
}

// take counts one more association for client, or refuses it over a
// limit (Overloaded: SOCKS5 0x01, HTTP 503).
func (c *assocCounts) take(cfg *UDPConfig, client netip.Addr) (netip.Prefix, error) {
	k := clientKey(client)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg.MaxAssociations > 0 && c.total >= cfg.MaxAssociations {
		return k, Errorf(Overloaded, "%d UDP associations open: limits.udp.max_associations", c.total)
	}
	if n := c.byClient[k]; cfg.MaxPerClient > 0 && n >= cfg.MaxPerClient {
		return k, Errorf(Overloaded, "client %s holds %d UDP associations: limits.udp.max_per_client", k, n)
	}
	if c.byClient == nil {
		c.byClient = map[netip.Prefix]int{}
	}
	c.total++
	c.byClient[k]++
	return k, nil
}

// give counts an association of client k as ended.
func (c *assocCounts) give(k netip.Prefix) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.byClient[k]--; c.byClient[k] <= 0 {
		delete(c.byClient, k)
	}
}

// Associations is the number of datagram associations open now.
func (e *Engine) Associations() int {
	e.assocs.mu.Lock()
	defer e.assocs.mu.Unlock()
	return e.assocs.total
}

// String describes the counts for a debug log.
func (c *assocCounts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%d associations, %d clients", c.total, len(c.byClient))
}
