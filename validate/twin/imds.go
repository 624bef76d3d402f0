package twin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"
)

// DefaultIMDSHopLimit is the instance's IMDS PUT response hop limit when
// Options.IMDSHopLimit is zero: 2, what AWS recommends for container
// hosts, so that a bridge task one routed hop away gets a token.
const DefaultIMDSHopLimit = 2

// imdsIP is the instance metadata service's address.
const imdsIP = "169.254.169.254"

// IMDSv2 headers (EC2 User Guide, "Use IMDSv2").
const (
	imdsTTLHeader   = "X-aws-ec2-metadata-token-ttl-seconds"
	imdsTokenHeader = "X-aws-ec2-metadata-token"
)

// imds is the stand-in instance metadata service: IMDSv2 only
// (HttpTokens=required), with the instance's PUT response hop limit.
type imds struct {
	hopLimit int
	metadata map[string]string

	mu     sync.Mutex
	tokens map[string]time.Time // token -> expiry
}

// connKey is the context key under which the IMDS server keeps a
// request's connection.
type connKey struct{}

// startIMDS starts the stand-in IMDS on 169.254.169.254:80 in the VPC
// namespace, which the host reaches through its default route.
func (t *Twin) startIMDS() error {
	m := &imds{
		hopLimit: t.imdsHopLimit,
		metadata: map[string]string{
			"instance-id":                 "i-00000000000" + strings.TrimPrefix(t.name, "cx"),
			"local-ipv4":                  HostAddr,
			"placement/availability-zone": twinRegion + "a",
			"placement/region":            twinRegion,
		},
		tokens: make(map[string]time.Time),
	}
	var ln net.Listener
	err := ns.WithNetNSPath(t.NetNS(VPC), func(ns.NetNS) error {
		var err error
		ln, err = net.Listen("tcp4", IMDSAddr)
		return err
	})
	if err != nil {
		return fmt.Errorf("imds: listen on %s in %s: %w", IMDSAddr, t.nsName(VPC), err)
	}
	s := &http.Server{
		Handler:           m.handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	t.servers = append(t.servers, s)
	go s.Serve(ln)
	t.logf("imds: IMDSv2 on %s in the VPC, PUT response hop limit %d", IMDSAddr, m.hopLimit)
	return nil
}

// handler answers IMDSv2 as EC2 does with HttpTokens=required: a PUT to
// /latest/api/token with a TTL of 1 to 21600 seconds returns a token, in
// a response whose packets leave with IP TTL = the hop limit; a GET under
// /latest/meta-data/ needs a live token (401 without).
func (m *imds) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /latest/api/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Forwarded-For") != "" {
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
		ttl, err := strconv.Atoi(r.Header.Get(imdsTTLHeader))
		if err != nil || ttl < 1 || ttl > 21600 {
			http.Error(w, "Bad Request", http.StatusBadRequest)
			return
		}
		token, err := randomHex(28)
		if err != nil {
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			return
		}
		if err := setTTL(r, m.hopLimit); err != nil {
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			return
		}
		m.mu.Lock()
		m.tokens[token] = time.Now().Add(time.Duration(ttl) * time.Second)
		m.mu.Unlock()
		// Every later packet of the connection keeps the hop limit
		// (retransmissions too), so the connection ends with this answer.
		w.Header().Set("Connection", "close")
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set(imdsTTLHeader, strconv.Itoa(ttl))
		fmt.Fprint(w, token)
	})
	mux.HandleFunc("GET /latest/meta-data/{path...}", func(w http.ResponseWriter, r *http.Request) {
		if !m.valid(r.Header.Get(imdsTokenHeader)) {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		p := r.PathValue("path")
		if p == "" {
			var keys []string
			for k := range m.metadata {
				if dir, _, ok := strings.Cut(k, "/"); ok {
					k = dir + "/"
				}
				keys = append(keys, k)
			}
			slices.Sort(keys)
			fmt.Fprint(w, strings.Join(slices.Compact(keys), "\n"))
			return
		}
		v, ok := m.metadata[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, v)
	})
	return mux
}

// valid says token was issued and has not expired.
func (m *imds) valid(token string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.tokens[token]
	return ok && time.Now().Before(exp)
}

// setTTL sets IP_TTL on the request's connection: every packet it sends
// from now on leaves with that TTL, and a router that would forward it
// with none left drops it.
func setTTL(r *http.Request, ttl int) error {
	c, ok := r.Context().Value(connKey{}).(*net.TCPConn)
	if !ok {
		return errors.New("imds: no TCP connection")
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl)
	}); err != nil {
		return err
	}
	return serr
}
