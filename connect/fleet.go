package connect

import (
	"net/url"

	"github.com/ferry-proxy/ferry/connect/forward"
)

// SetFleet shares the plain-HTTP cache with the fleet's members (issue 18
// item 5; forward/fleet.go), who send requests on listener. Call before
// serving.
func (s *Server) SetFleet(owners forward.Owners, user *url.Userinfo, listener string) {
	s.fwd.SetFleet(owners, user, listener)
}
