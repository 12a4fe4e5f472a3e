package tunnel

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
)

// ErrNoCandidate is Failover's answer when there was nothing to try.
var ErrNoCandidate = errors.New("no candidate available")

// Failover tries candidates in turn until one succeeds. try reports
// whether its failure may be retried on the next candidate: the
// candidate's own fault (it refused, timed out, answered 5xx), with
// nothing of the request reaching the client yet. A failure that is not,
// or a cancelled ctx, is returned at once. After several failures the
// error names each one, under what ("every upstream of corp"); it has the
// kind and next hop of the last. candidates may be lazy (a pool picking a
// backend not tried yet): it is asked for the next one only after a
// failure.
//
// One helper for every way out through a list of hops: tunnels through
// upstream groups, plain HTTP through them, reverse-mode backends.
func Failover[C any](ctx context.Context, what string, candidates iter.Seq[C], name func(C) string,
	try func(C) (retry bool, err error)) error {
	var tried []string
	var last error
	for c := range candidates {
		retry, err := try(c)
		if err == nil {
			return nil
		}
		if !retry || ctx.Err() != nil {
			return err
		}
		last = err
		tried = append(tried, name(c)+": "+unwrapFault(err).Error())
	}
	switch len(tried) {
	case 0:
		return &Error{Kind: Unavailable, Err: fmt.Errorf("%s: %w", what, ErrNoCandidate)}
	case 1:
		return last
	}
	hop, _ := NextHopOf(last)
	return &Error{Kind: KindOf(last), NextHop: hop, Err: fmt.Errorf("every %s failed: %s", what, strings.Join(tried, "; "))}
}
