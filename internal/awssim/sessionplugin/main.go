// Command sessionplugin stands in for AWS's session-manager-plugin when a
// Packer build runs against awssim: Packer execs "session-manager-plugin"
// from PATH with the StartSession answer (JSON), the region,
// "StartSession", the profile, the StartSession parameters (JSON) and the
// endpoint. Like the real plugin for AWS-StartPortForwardingSession, it
// listens on localhost:localPortNumber and forwards each connection to
// the instance's portNumber, through the session's data channel on the
// emulator (awssim.StreamPath), until it is killed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/cisecs/cisecs/internal/awssim"
)

// session is the StartSession answer, as Packer passes it.
type session struct {
	SessionID  string `json:"SessionId"`
	StreamURL  string `json:"StreamUrl"`
	TokenValue string `json:"TokenValue"`
}

// params are the StartSession parameters, as Packer passes them.
type params struct {
	Target       string
	DocumentName string
	Parameters   map[string][]string
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "session-manager-plugin (awssim): %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 5 || args[2] != "StartSession" {
		return fmt.Errorf("usage: session-manager-plugin SESSION_JSON REGION StartSession PROFILE PARAMS_JSON [ENDPOINT], got %d arguments", len(args))
	}
	var s session
	if err := json.Unmarshal([]byte(args[0]), &s); err != nil {
		return fmt.Errorf("session %q: %w", args[0], err)
	}
	var p params
	if err := json.Unmarshal([]byte(args[4]), &p); err != nil {
		return fmt.Errorf("parameters %q: %w", args[4], err)
	}
	if p.DocumentName != "AWS-StartPortForwardingSession" {
		return fmt.Errorf("document %q: only AWS-StartPortForwardingSession is played", p.DocumentName)
	}
	local := first(p.Parameters["localPortNumber"])
	if local == "" {
		return fmt.Errorf("parameters %q: no localPortNumber", args[4])
	}
	u, err := url.Parse(s.StreamURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("stream url %q: not a URL", s.StreamURL)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", local))
	if err != nil {
		return fmt.Errorf("listen on local port %s: %w", local, err)
	}
	// Packer dials "localhost", which may resolve to ::1 first.
	if ln6, err := net.Listen("tcp", net.JoinHostPort("::1", local)); err == nil {
		go serve(ln6, s, u)
	}
	fmt.Printf("\nStarting session with SessionId: %s\n", s.SessionID)
	fmt.Printf("Port %s opened for sessionId %s.\nWaiting for connections...\n", local, s.SessionID)
	return serve(ln, s, u)
}

func serve(ln net.Listener, s session, u *url.URL) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		fmt.Printf("\nConnection accepted for session [%s]\n", s.SessionID)
		go forward(c, s, u)
	}
}

// forward carries one local connection over a new data channel.
func forward(c net.Conn, s session, u *url.URL) {
	defer c.Close()
	remote, err := net.Dial("tcp", u.Host)
	if err != nil {
		fmt.Fprintf(os.Stderr, "data channel %s: %v\n", u.Host, err)
		return
	}
	defer remote.Close()
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: %s\r\nConnection: Upgrade\r\n%s: %s\r\n\r\n",
		u.RequestURI(), u.Host, awssim.StreamUpgrade, awssim.StreamTokenHeader, s.TokenValue)
	if _, err := io.WriteString(remote, req); err != nil {
		fmt.Fprintf(os.Stderr, "data channel: %v\n", err)
		return
	}
	br := bufio.NewReader(remote)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "data channel: %v\n", err)
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		fmt.Fprintf(os.Stderr, "data channel: %s: %s\n", resp.Status, strings.TrimSpace(string(b)))
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(remote, c)
		if tc, ok := remote.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(c, br)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	wg.Wait()
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
