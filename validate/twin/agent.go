package twin

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cisecs/cisecs/release"
)

// Identity of the twin's stand-in cluster and account.
const (
	twinCluster = "cisecs-twin"
	twinAccount = "111122223333"
	twinRegion  = "us-east-1"
)

// Task is an ECS task the twin runs: what the agent knows it by and the
// environment the agent gives its containers.
type Task struct {
	// Endpoint is the task's namespace (AWSVPC, Bridge, or HostMode: the
	// host's own).
	Endpoint Endpoint
	// NetworkMode is the task's ECS network mode ("awsvpc", "bridge",
	// "host").
	NetworkMode string
	// Addr is the task's IPv4 address, as task metadata v4 gives it (an
	// awsvpc task's: its ENI's; a host-mode task's: the host's).
	Addr string
	// TaskARN is the task's ARN.
	TaskARN string
	// RoleARN is the task role whose credentials the agent serves.
	RoleARN string
	// CredentialsID is the id in AWS_CONTAINER_CREDENTIALS_RELATIVE_URI.
	CredentialsID string
	// MetadataID is the container id in ECS_CONTAINER_METADATA_URI_V4.
	MetadataID string
}

// Env returns the task's ECS environment, as KEY=value.
func (k Task) Env() []string {
	return []string{
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=" + k.CredentialsURI(),
		"ECS_CONTAINER_METADATA_URI_V4=" + k.MetadataURI(),
	}
}

// CredentialsURI is AWS_CONTAINER_CREDENTIALS_RELATIVE_URI.
func (k Task) CredentialsURI() string { return "/v2/credentials/" + k.CredentialsID }

// MetadataURI is ECS_CONTAINER_METADATA_URI_V4.
func (k Task) MetadataURI() string { return "http://169.254.170.2/v4/" + k.MetadataID }

// Task returns the task behind e (AWSVPC, Bridge or HostMode).
func (t *Twin) Task(e Endpoint) (Task, error) {
	k, ok := t.tasks[e]
	if !ok {
		return Task{}, fmt.Errorf("endpoint %q is not a task (tasks are %s, %s, %s)", e, AWSVPC, Bridge, HostMode)
	}
	return k, nil
}

// newTasks makes the twin's tasks, one per network mode, with ids of their
// own.
func newTasks(name string) (map[Endpoint]Task, error) {
	tasks := make(map[Endpoint]Task)
	for _, k := range []struct {
		e          Endpoint
		mode, addr string
	}{
		{AWSVPC, release.ModeAWSVPC, AWSVPCENIAddr}, // task metadata names the ENI's address
		{Bridge, release.ModeBridge, BridgeTaskAddr},
		{HostMode, release.ModeHost, HostAddr}, // the host's own address
	} {
		taskID, err := randomHex(16)
		if err != nil {
			return nil, err
		}
		credID, err := randomUUID()
		if err != nil {
			return nil, err
		}
		tasks[k.e] = Task{
			Endpoint:      k.e,
			NetworkMode:   k.mode,
			Addr:          k.addr,
			TaskARN:       fmt.Sprintf("arn:aws:ecs:%s:%s:task/%s/%s", twinRegion, twinAccount, twinCluster, taskID),
			RoleARN:       fmt.Sprintf("arn:aws:iam::%s:role/%s-%s-task", twinAccount, name, k.mode),
			CredentialsID: credID,
			MetadataID:    taskID + "-" + fmt.Sprint(time.Now().UnixNano()%1e10),
		}
	}
	return tasks, nil
}

// Credentials is the agent's answer to GET /v2/credentials/<id>.
type Credentials struct {
	RoleArn         string
	AccessKeyId     string
	SecretAccessKey string
	Token           string
	Expiration      time.Time
}

// TaskMetadata is the part of the agent's task metadata v4 answer
// (GET $ECS_CONTAINER_METADATA_URI_V4/task) that probes check.
type TaskMetadata struct {
	Cluster       string
	TaskARN       string
	Family        string
	Revision      string
	DesiredStatus string
	KnownStatus   string
	Containers    []ContainerMetadata
}

// ContainerMetadata is a container in task metadata v4.
type ContainerMetadata struct {
	DockerId string
	Name     string
	Image    string
	Networks []struct {
		NetworkMode   string
		IPv4Addresses []string
	}
}

// startAgent starts the stand-in ECS agent, if ecs.service's pre-start
// succeeded, and another host service on :9100, listening inside the
// host's network namespace.
func (t *Twin) startAgent() error {
	if err := t.serve(Host, "0.0.0.0:"+HostServicePort, hostServiceHandler()); err != nil {
		return fmt.Errorf("host service: %w", err)
	}
	t.agent = nil
	if t.ecsActive {
		if err := t.startAgentServers(); err != nil {
			return err
		}
	}
	t.logf("host service on :%s", HostServicePort)
	return nil
}

// startAgentServers starts the agent's servers: credentials and metadata
// on 127.0.0.1:51679, introspection on :51678.
func (t *Twin) startAgentServers() error {
	n := len(t.servers)
	if err := t.serve(Host, AgentAddr, t.agentHandler()); err != nil {
		return fmt.Errorf("ecs agent: %w", err)
	}
	if err := t.serve(Host, "0.0.0.0:"+IntrospectionPort, t.introspectionHandler()); err != nil {
		return fmt.Errorf("ecs agent: %w", err)
	}
	t.agent = append(t.agent, t.servers[n:]...)
	t.logf("ecs agent: listening on %s and :%s", AgentAddr, IntrospectionPort)
	return nil
}

// stopAgent closes the agent's servers: connections to its ports are
// refused until it starts again.
func (t *Twin) stopAgent() {
	for _, s := range t.agent {
		s.Close()
	}
	t.agent = nil
}

// agentHandler serves credentials and task metadata v4 for the twin's
// tasks, as the ECS agent's credentials server does.
func (t *Twin) agentHandler() http.Handler {
	byCreds := make(map[string]Task)
	byMeta := make(map[string]Task)
	for _, k := range t.tasks {
		byCreds[k.CredentialsID] = k
		byMeta[k.MetadataID] = k
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/credentials/{id}", func(w http.ResponseWriter, r *http.Request) {
		k, ok := byCreds[r.PathValue("id")]
		if !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{
				"code": "InvalidIdInRequest", "message": "CredentialsV2Request: Credentials not found"})
			return
		}
		creds, err := newCredentials(k.RoleARN)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, creds)
	})
	mux.HandleFunc("GET /v4/{id}", func(w http.ResponseWriter, r *http.Request) {
		k, ok := byMeta[r.PathValue("id")]
		if !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "V4 container metadata handler: unable to get container ID from request"})
			return
		}
		writeJSON(w, http.StatusOK, containerMetadata(k))
	})
	mux.HandleFunc("GET /v4/{id}/task", func(w http.ResponseWriter, r *http.Request) {
		k, ok := byMeta[r.PathValue("id")]
		if !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "V4 task metadata handler: unable to get task ARN from request"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"Cluster":          twinCluster,
			"TaskARN":          k.TaskARN,
			"Family":           "twin-" + k.NetworkMode,
			"Revision":         "1",
			"DesiredStatus":    "RUNNING",
			"KnownStatus":      "RUNNING",
			"Limits":           map[string]any{"CPU": 0.25, "Memory": 512},
			"AvailabilityZone": twinRegion + "a",
			"LaunchType":       "EC2",
			"Containers":       []any{containerMetadata(k)},
		})
	})
	return mux
}

// containerMetadata is task metadata v4 for the task's one container.
func containerMetadata(k Task) map[string]any {
	return map[string]any{
		"DockerId":      strings.ReplaceAll(k.MetadataID, "-", ""),
		"Name":          "app",
		"DockerName":    "ecs-twin-" + k.NetworkMode + "-1-app",
		"Image":         "public.ecr.aws/docker/library/busybox:latest",
		"Labels":        map[string]string{"com.amazonaws.ecs.cluster": twinCluster, "com.amazonaws.ecs.task-arn": k.TaskARN},
		"DesiredStatus": "RUNNING",
		"KnownStatus":   "RUNNING",
		"Type":          "NORMAL",
		"ContainerARN":  k.TaskARN + "/app",
		"Networks": []map[string]any{{
			"NetworkMode":   k.NetworkMode,
			"IPv4Addresses": []string{k.Addr},
		}},
	}
}

// introspectionHandler answers the agent's introspection API.
func (t *Twin) introspectionHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{
			"Cluster":              twinCluster,
			"ContainerInstanceArn": fmt.Sprintf("arn:aws:ecs:%s:%s:container-instance/%s/%s", twinRegion, twinAccount, twinCluster, t.name),
			"Version":              "Amazon ECS Agent - v" + t.ecsInitVersion() + " (cisecs twin)",
		})
	})
}

// ecsInitVersion is the agent version the twin runs.
func (t *Twin) ecsInitVersion() string { return ECSInit{Version: t.agentVersion}.version() }

// hostServiceHandler answers for another service on the host.
func hostServiceHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "host service")
	})
}

// newCredentials returns fresh temporary credentials for role, valid
// for six hours.
func newCredentials(role string) (Credentials, error) {
	key, err := randomHex(8)
	if err != nil {
		return Credentials{}, err
	}
	secret, err := randomHex(20)
	if err != nil {
		return Credentials{}, err
	}
	token, err := randomHex(64)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{
		RoleArn:         role,
		AccessKeyId:     "ASIA" + strings.ToUpper(key),
		SecretAccessKey: secret,
		Token:           token,
		Expiration:      time.Now().Add(6 * time.Hour).UTC().Truncate(time.Second),
	}, nil
}

// writeJSON writes v as the response.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// randomHex returns n random bytes in hex.
func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// randomUUID returns a random (version 4) UUID.
func randomUUID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
