package twin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
)

// Endpoint is a place in the twin that a probe starts from.
type Endpoint string

const (
	// AWSVPC is the awsvpc-mode task: its ENI on the VPC subnet, and
	// ecs-eth0 on ecs-bridge for the agent.
	AWSVPC Endpoint = "awsvpc"
	// Bridge is the bridge-mode task, behind docker0.
	Bridge Endpoint = "bridge"
	// VPC is another machine in the VPC, the host's gateway.
	VPC Endpoint = "vpc"
	// Host is the host itself (its network namespace).
	Host Endpoint = "host"
	// HostMode is the host-mode task: a process in the host's network
	// namespace with the agent's task environment. Its requests to
	// 169.254.170.2 take ecs-init's nat OUTPUT REDIRECT, then filter
	// OUTPUT (which still sees eth0) and INPUT on lo.
	HostMode Endpoint = "host-mode"
)

// Tasks returns the endpoints that are ECS tasks, one per network mode.
func Tasks() []Endpoint { return []Endpoint{AWSVPC, Bridge, HostMode} }

// DNATTasks returns the tasks whose requests reach the agent through
// ecs-init's nat PREROUTING DNAT (from ecs-bridge and docker0): the ones
// a CIS INPUT policy drops. A host-mode task's request never crosses
// PREROUTING.
func DNATTasks() []Endpoint { return []Endpoint{AWSVPC, Bridge} }

// ProbeError is a probe that could not reach its target. IsTimeout,
// IsRefused and IsUnreachable tell a dropped packet from a rejected one.
type ProbeError struct {
	// From is where the probe started.
	From Endpoint
	// Target is the address or URL probed.
	Target string
	// Err is the network error.
	Err error
}

// Error implements error.
func (e *ProbeError) Error() string {
	return fmt.Sprintf("probe %s from %s: %v", e.Target, e.From, e.Err)
}

// Unwrap returns the network error.
func (e *ProbeError) Unwrap() error { return e.Err }

// IsTimeout says err is a probe that got no answer in time: its packets
// were dropped.
func IsTimeout(err error) bool {
	var pe *ProbeError
	if !errors.As(err, &pe) {
		return false
	}
	var ne net.Error
	return errors.Is(pe.Err, context.DeadlineExceeded) || (errors.As(pe.Err, &ne) && ne.Timeout())
}

// IsRefused says err is a probe answered with a TCP reset (nothing
// listening, or a REJECT --reject-with tcp-reset).
func IsRefused(err error) bool {
	var pe *ProbeError
	return errors.As(err, &pe) && errors.Is(pe.Err, syscall.ECONNREFUSED)
}

// IsUnreachable says err is a probe answered with an ICMP unreachable
// (a REJECT with icmp-host-prohibited, or no route).
func IsUnreachable(err error) bool {
	var pe *ProbeError
	return errors.As(err, &pe) && (errors.Is(pe.Err, syscall.EHOSTUNREACH) || errors.Is(pe.Err, syscall.ENETUNREACH))
}

// IsBlocked says err is a probe the network stopped: dropped (IsTimeout),
// reset (IsRefused), answered with ICMP unreachable (IsUnreachable), or
// refused by the sending namespace's own OUTPUT chain (EPERM), as opposed
// to an answer that was wrong.
func IsBlocked(err error) bool {
	var pe *ProbeError
	return IsTimeout(err) || IsRefused(err) || IsUnreachable(err) ||
		(errors.As(err, &pe) && (errors.Is(pe.Err, syscall.EPERM) || errors.Is(pe.Err, syscall.EACCES)))
}

// Connect opens a TCP connection to addr from a socket created in from's
// namespace, and closes it. A dropped SYN returns an error for which
// IsTimeout is true after the probe timeout.
func (t *Twin) Connect(ctx context.Context, from Endpoint, addr string) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if err := t.probeGuard(from); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, t.probeTimeout)
	defer cancel()
	conn, err := t.dial(ctx, from, addr)
	if err != nil {
		return &ProbeError{From: from, Target: addr, Err: err}
	}
	return conn.Close()
}

// Credentials fetches the task's credentials the way an AWS SDK in the
// task does (GET http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
// from inside the task's namespace) and checks them: the task's role, an
// access key, and an expiry in the future.
func (t *Twin) Credentials(ctx context.Context, task Endpoint) (Credentials, error) {
	k, err := t.Task(task)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials: %w", err)
	}
	var c Credentials
	if err := t.getJSON(ctx, task, "http://169.254.170.2"+k.CredentialsURI(), &c); err != nil {
		return Credentials{}, fmt.Errorf("credentials of %s task: %w", task, err)
	}
	switch {
	case c.RoleArn != k.RoleARN:
		return c, fmt.Errorf("credentials of %s task: role %q, want %q", task, c.RoleArn, k.RoleARN)
	case c.AccessKeyId == "" || c.SecretAccessKey == "" || c.Token == "":
		return c, fmt.Errorf("credentials of %s task: incomplete", task)
	case !c.Expiration.After(time.Now()):
		return c, fmt.Errorf("credentials of %s task: expired at %s", task, c.Expiration.Format(time.RFC3339))
	}
	return c, nil
}

// Metadata fetches the task's task metadata v4
// (GET $ECS_CONTAINER_METADATA_URI_V4/task from inside the task's
// namespace) and checks that it describes the task.
func (t *Twin) Metadata(ctx context.Context, task Endpoint) (TaskMetadata, error) {
	k, err := t.Task(task)
	if err != nil {
		return TaskMetadata{}, fmt.Errorf("metadata: %w", err)
	}
	var m TaskMetadata
	if err := t.getJSON(ctx, task, k.MetadataURI()+"/task", &m); err != nil {
		return TaskMetadata{}, fmt.Errorf("metadata of %s task: %w", task, err)
	}
	if m.TaskARN != k.TaskARN || len(m.Containers) == 0 {
		return m, fmt.Errorf("metadata of %s task: task %q with %d containers, want %q", task, m.TaskARN, len(m.Containers), k.TaskARN)
	}
	return m, nil
}

// getJSON GETs url from a socket in from's namespace and decodes a 200
// answer into v.
func (t *Twin) getJSON(ctx context.Context, from Endpoint, url string, v any) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if err := t.probeGuard(from); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, t.probeTimeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{
		DialContext:       func(ctx context.Context, _, addr string) (net.Conn, error) { return t.dial(ctx, from, addr) },
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap()
		}
		return &ProbeError{From: from, Target: url, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &ProbeError{From: from, Target: url, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// dial opens a TCP connection to addr from a socket created in from's
// namespace.
func (t *Twin) dial(ctx context.Context, from Endpoint, addr string) (net.Conn, error) {
	var conn net.Conn
	err := ns.WithNetNSPath(t.NetNS(from), func(ns.NetNS) error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, "tcp4", addr)
		return err
	})
	return conn, err
}

// probeGuard checks that from is an endpoint and the twin is up; the
// caller holds t.mu.
func (t *Twin) probeGuard(from Endpoint) error {
	switch from {
	case AWSVPC, Bridge, HostMode, VPC, Host:
	default:
		return fmt.Errorf("probe from %q: unknown endpoint", from)
	}
	if err := t.guard(); err != nil {
		return fmt.Errorf("probe from %s: %w", from, err)
	}
	return nil
}
