package awssim

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sivchari/kumo"
)

// The data channel of an SSM session. Session Manager's real one is a
// WebSocket (wss://ssmmessages.REGION.amazonaws.com/v1/data-channel/ID)
// that speaks the session-manager-plugin's message protocol; the front's
// is at the same path on its own address, and speaks plain bytes after an
// HTTP upgrade, which is what the stand-in plugin
// (internal/awssim/sessionplugin) speaks.
const (
	// StreamPath starts the path of a session's data channel.
	StreamPath = "/v1/data-channel/"
	// StreamUpgrade is the Upgrade protocol the data channel takes.
	StreamUpgrade = "awssim-port-forward"
	// StreamTokenHeader carries the session's TokenValue.
	StreamTokenHeader = "X-Amz-Session-Token"
)

type session struct {
	id, instance, token string
	port                int
	terminated          bool
	conns               map[net.Conn]bool
}

// startSession opens a port-forwarding session to a running instance, as
// SSM does; an instance that is not running is TargetNotConnected (the
// SSM agent of a running build instance is taken as connected).
func (s *Server) startSession(c *call) reply {
	b := s.buildOf()
	target := str(c.json, "Target")
	doc := str(c.json, "DocumentName")
	i, ok := b.instances[target]
	if !ok || i.state != "running" {
		return clientError(jsonProtocol, "TargetNotConnected", fmt.Sprintf("%s is not connected.", target))
	}
	if doc != "AWS-StartPortForwardingSession" {
		return clientError(jsonProtocol, "InvalidDocument", fmt.Sprintf("awssim plays the document AWS-StartPortForwardingSession only, not %q", doc))
	}
	port := 22
	if params, ok := c.json["Parameters"].(map[string]any); ok {
		if v, ok := params["portNumber"].([]any); ok && len(v) == 1 {
			if p, err := strconv.Atoi(fmt.Sprint(v[0])); err == nil {
				port = p
			}
		}
	}
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	id := fmt.Sprintf("awssim-%017x", s.seq+1)
	s.seq++
	ss := &session{id: id, instance: target, token: hex.EncodeToString(tok[:]), port: port, conns: map[net.Conn]bool{}}
	b.sessions[id] = ss
	return jsonReply(map[string]string{
		"SessionId":  id,
		"StreamUrl":  "ws://" + c.r.Host + StreamPath + id + "?role=publish_subscribe",
		"TokenValue": ss.token,
	})
}

// terminateSession ends a session and drops its connections; SSM answers
// with the id for a session that is over, too.
func (s *Server) terminateSession(c *call) reply {
	b := s.buildOf()
	id := str(c.json, "SessionId")
	if ss, ok := b.sessions[id]; ok {
		ss.terminated = true
		for conn := range ss.conns {
			conn.Close()
		}
	}
	return jsonReply(map[string]string{"SessionId": id})
}

// closeSessions ends the sessions to instance (it stops or terminates).
// s.mu is held.
func (s *Server) closeSessions(b *buildState, instance string) {
	for _, ss := range b.sessions {
		if ss.instance == instance {
			ss.terminated = true
			for conn := range ss.conns {
				conn.Close()
			}
		}
	}
}

// Sessions are the SSM sessions started, with whether each is over, as
// "<id> <instance> open|terminated".
func (s *Server) Sessions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, ss := range s.buildOf().sessions {
		st := "open"
		if ss.terminated {
			st = "terminated"
		}
		out = append(out, id+" "+ss.instance+" "+st)
	}
	return out
}

// ServeStream serves a session's data channel: an HTTP upgrade to
// StreamUpgrade with the session's token, then the bytes of one
// connection to the session's port on the instance's host.
func (s *Server) ServeStream(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, StreamPath)
	s.mu.Lock()
	ss, ok := s.buildOf().sessions[id]
	var host *Host
	open := ok && !ss.terminated
	if open {
		if i := s.build.instances[ss.instance]; i != nil && i.state == "running" {
			host = i.host
		}
	}
	s.mu.Unlock()
	switch {
	case !open:
		http.Error(w, "session "+id+" is not open", http.StatusNotFound)
		return
	case r.Header.Get(StreamTokenHeader) != ss.token:
		http.Error(w, "bad session token", http.StatusForbidden)
		return
	case !strings.EqualFold(r.Header.Get("Upgrade"), StreamUpgrade):
		http.Error(w, "upgrade to "+StreamUpgrade, http.StatusBadRequest)
		return
	case host == nil || host.Dial == nil:
		http.Error(w, "instance "+ss.instance+" is not running", http.StatusBadGateway)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	remote, err := host.Dial(ctx, ss.port)
	if err != nil {
		http.Error(w, fmt.Sprintf("instance %s port %d: %v", ss.instance, ss.port, err), http.StatusBadGateway)
		return
	}
	defer remote.Close()
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no hijacking", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	s.mu.Lock()
	ss.conns[conn] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(ss.conns, conn)
		s.mu.Unlock()
	}()
	if _, err := rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + StreamUpgrade + "\r\nConnection: Upgrade\r\n\r\n"); err != nil {
		return
	}
	if err := rw.Flush(); err != nil {
		return
	}
	pipe(conn, rw.Reader, remote)
}

// pipe copies both ways until either side ends, then closes both.
func pipe(local net.Conn, localReader *bufio.Reader, remote net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(remote, localReader)
		closeWrite(remote)
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(local, remote)
		closeWrite(local)
	}()
	wg.Wait()
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// ServeBuild serves an emulated AWS for a Packer build (a new kumo behind
// a front made with o, o.Boot set) on loopback TCP, with the sessions'
// data channels, and returns the front and its URL (for AWS_ENDPOINT_URL).
// Its hosts are terminated when t ends.
func ServeBuild(t testing.TB, o Options) (*Server, string) {
	t.Helper()
	if o.Boot == nil {
		t.Fatal("awssim: ServeBuild needs Options.Boot")
	}
	k := kumo.NewServer()
	t.Cleanup(k.Close)
	o.Kumo = k.URL
	front, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(front.Close)
	mux := http.NewServeMux()
	mux.HandleFunc(StreamPath, front.ServeStream)
	mux.Handle("/", front)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(front.closeHosts)
	return front, srv.URL
}

// closeHosts closes the hosts of instances that are not terminated, and
// those still booting once they are up.
func (s *Server) closeHosts() {
	s.mu.Lock()
	b := s.buildOf()
	b.closed = true
	s.mu.Unlock()
	b.work.Wait()
	s.mu.Lock()
	var hosts []*Host
	for _, i := range b.instances {
		if i.host != nil && i.state != "terminated" && i.state != "shutting-down" {
			hosts = append(hosts, i.host)
			i.host = nil
		}
	}
	s.mu.Unlock()
	for _, h := range hosts {
		if h.Close != nil {
			_ = h.Close()
		}
	}
}
