// Package awssim puts a small front in front of kumo, an in-process
// AWS emulator, so that the gate's AWS backend can be tested offline.
//
// kumo (github.com/sivchari/kumo) stores the clusters, task definitions,
// tasks, instances, tags and parameters. The front answers the operations
// kumo lacks (ECS container instances, task listings and task definition
// listings, EC2 RebootInstances and DescribeInstances filters and tags, SSM
// Run Command, and AMIs: DescribeImages and CreateTags on images, from a
// scripted catalogue, see Image), and it plays the parts of AWS that take
// time: the instance boots, its ECS agent registers, tasks start, run their
// probe and stop, the instance reboots and terminates, SSM checks the AMI
// of an aws:ec2:image parameter, each after a scripted latency on a Clock.
// Every operation can also take a scripted latency of its own, or fail.
//
// Like AWS, the front refuses a request that is not signed, and it can be
// told to refuse every credential (Options.InvalidCredentials). STS
// GetCallerIdentity goes to kumo, which answers with its account's root.
// Like EC2, RunInstances refuses an AMI that is not in the catalogue and an
// instance type whose architecture is not the AMI's (InstanceTypeArchitecture).
// Like ECS, RunTask refuses an awsvpc task in an account without the ECS
// service-linked role (Options.NoECSServiceLinkedRole), which IAM GetRole
// and CreateServiceLinkedRole read and make. Like a VPC, a subnet among
// Options.Networks routes an instance only where its route table and its
// VPC's endpoints lead (DescribeSubnets, DescribeRouteTables and
// DescribeVpcEndpoints answer them): an agent that cannot reach ECS never
// registers, and an image whose registry it cannot reach is never pulled.
// A reboot gives the instance a new boot id, which an SSM command that
// reads BootIDFile prints; ECS reports the agent's disconnect late, or
// never (Latencies.DisconnectSeen); ReconnectAgent drops the agent's
// connection and restores it without a reboot. KillAgent kills the agent
// for good: as in ECS, its tasks then stop only when its container
// instance is deregistered by force, and the instance's termination does
// not deregister it. Like ECS, an awsvpc task gets a network interface,
// untagged, that ECS deletes when the task stops but leaves "available"
// when the instance terminates under the task or the agent is lost
// (DescribeNetworkInterfaces, DeleteNetworkInterface and CreateTags
// answer it).
//
// Run it inside a testing/synctest bubble (synctest.Test) and the Clock is
// the bubble's fake clock: a 40-second boot takes no time. The front
// serves on an in-memory network (so that the bubble can go idle); start
// kumo outside the bubble (kumo.NewServer listens on loopback).
//
// kumo keeps its state in process-wide singletons: every kumo.NewServer in
// a test binary shares it. Tests tell their resources apart by run id.
package awssim

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/cisecs/cisecs/validate"
)

// Never is a latency for a step that never happens (an instance that never
// boots, an agent that never registers).
const Never = time.Duration(1 << 62)

// Latencies script how long each step takes, on the Clock.
type Latencies struct {
	// API is how long each operation takes to answer, by name
	// ("CreateCluster", "RunInstances", ...); absent ones answer at once.
	API map[string]time.Duration
	// InstanceVisible is from RunInstances to the instance visible to
	// DescribeInstances, TerminateInstances and RebootInstances: EC2's
	// API is eventually consistent, and until then answers
	// InvalidInstanceID.NotFound for the id RunInstances just gave.
	InstanceVisible time.Duration
	// ProfileVisible is from CreateInstanceProfile to RunInstances taking
	// the profile (IAM is eventually consistent).
	ProfileVisible time.Duration
	// InstanceBoot is from RunInstances to the instance running.
	InstanceBoot time.Duration
	// AgentRegister is from the instance running to its container instance
	// ACTIVE and connected in the cluster its user data names (if that
	// cluster exists then; if not, the agent gives up).
	AgentRegister time.Duration
	// TaskStart is from RunTask to the task RUNNING.
	TaskStart time.Duration
	// TaskRun is how long a probe that does not hold runs, unless the Probe
	// hook says otherwise.
	TaskRun time.Duration
	// TaskStop is from StopTask to the task STOPPED.
	TaskStop time.Duration
	// RebootDown is from RebootInstances to the host going down: its
	// tasks stop, SSM cannot reach it, and it comes back with a new boot
	// id (/proc/sys/kernel/random/boot_id, which an SSM command can read).
	// Reboot is to it up again and its agent connected. A RebootDown of
	// Never is a reboot that does not happen.
	RebootDown, Reboot time.Duration
	// DisconnectSeen is how long after the host goes down ECS reports its
	// agent disconnected (agentConnected false, until the agent connects
	// again). ECS notices a lost agent late: a reboot shorter than this
	// is never seen at all. Zero: at once; Never: ECS never reports it.
	DisconnectSeen time.Duration
	// Terminate is from TerminateInstances to the instance terminated.
	Terminate time.Duration
	// Command is from SendCommand to the command done (the invocation
	// exists after half of it).
	Command time.Duration
	// ImageParameter is from a PutParameter of data type aws:ec2:image to
	// SSM's asynchronous check of the AMI: only then does the new value
	// become visible, and only if the AMI is in the catalogue and
	// available (see putParameter).
	ImageParameter time.Duration
}

// Run is what a probe task does, as the Probe hook scripts it.
type Run struct {
	// ExitCode is the probe container's exit code; nil for none.
	ExitCode *int
	// Reason is the container's reason (e.g. "CannotPullContainerError: ...").
	Reason string
	// StoppedReason is the task's; empty is "Essential container in task
	// exited".
	StoppedReason string
	// For is how long it runs before it exits; zero is Latencies.TaskRun.
	For time.Duration
	// Hold keeps it running until it is stopped.
	Hold bool
	// NeverStarts stops it before it runs (after For), as a failed image
	// pull does.
	NeverStarts bool
}

// Exit is a helper for Run.ExitCode.
func Exit(code int) *int { return &code }

// TaskDefinition is a task definition as registered through the front.
type TaskDefinition struct {
	ARN, Family, NetworkMode, TaskRoleARN, Status string
	// Container is the first container's name, Image its image, Command
	// its command.
	Container, Image string
	Command          []string
	Tags             map[string]string
}

// APIError is an error the Fault hook makes an operation answer.
type APIError struct {
	Code, Message string
}

// Request is one request the front answered.
type Request struct {
	Op string
	// Service is the service the request's signature is scoped to (ec2,
	// iam, ssm, sts, ...).
	Service string
	Time    time.Time
	// Form holds an EC2 (query protocol) request's parameters.
	Form url.Values
	// JSON holds an ECS or SSM (JSON protocol) request's body.
	JSON map[string]any
}

// Options configure a Server.
type Options struct {
	// Kumo is kumo's URL (kumo.NewServer().URL).
	Kumo string
	// Clock is the time source; nil is the system clock (the fake one,
	// inside a synctest bubble).
	Clock validate.Clock
	// Latencies script the steps.
	Latencies Latencies
	// Fault, when it returns an error, makes the n-th call (from 1) of op
	// answer it instead (after the op's latency).
	Fault func(op string, n int) *APIError
	// Handled is called once the n-th call of op is done, before its
	// answer is written (e.g. to cancel the caller's context then).
	Handled func(op string, n int)
	// Drop, when it returns true, makes the n-th call of op do its work
	// and then drop the connection instead of answering (an answer lost on
	// the way).
	Drop func(op string, n int) bool
	// Probe scripts what a task of td does; nil: it exits 0 after
	// Latencies.TaskRun.
	Probe func(td TaskDefinition) Run
	// Command scripts the output of an SSM command; nil: "output of <cmd>"
	// and Success.
	Command func(cmd string) (stdout, stderr string, ok bool)
	// Images are the AMIs the front starts with (see Image; AddImage adds
	// more).
	Images []Image
	// InvalidCredentials makes the front refuse every signed request as
	// AWS refuses credentials it does not know (an access key deleted or
	// mistyped, a wrong secret, an expired session): 403
	// InvalidClientTokenId from STS, 401 AuthFailure from EC2, 400
	// UnrecognizedClientException from ECS and SSM. A request that is not
	// signed is refused whatever this says: MissingAuthenticationToken
	// (MissingAuthenticationTokenException from ECS and SSM).
	InvalidCredentials bool
	// NoECSServiceLinkedRole plays a fresh account, one that has never
	// used ECS: the ECS service-linked role (AWSServiceRoleForECS) does
	// not exist, IAM GetRole answers NoSuchEntity for it, and ECS refuses
	// an awsvpc RunTask (InvalidParameterException,
	// ECSServiceLinkedRoleMissing) until CreateServiceLinkedRole makes it.
	// Zero: the role exists, as in an account that has used ECS.
	NoECSServiceLinkedRole bool
	// Networks are the subnets DescribeSubnets knows, with their route
	// tables and their VPCs' endpoints (see Network).
	Networks []Network
	// ECSAgentRelease is the newest ECS agent release, as the public
	// parameters of the ECS-optimized AMIs say it
	// (/aws/service/ecs/optimized-ami/.../recommended, which every region
	// has); zero is DefaultECSAgentRelease.
	ECSAgentRelease string
	// Authorize, if set, sees each request the front answers itself
	// (not those refused or failed by Fault), before it answers, with the
	// resources as they stand (see Authorization). The front is locked.
	Authorize func(Authorization)
	// Boot, when set, makes the front play the EC2, IAM and SSM a Packer
	// amazon-ebs build calls (see packer.go): RunInstances boots a host
	// through it.
	Boot func(ctx context.Context, l Launch) (Host, error)
	// NoDefaultVPC plays an account without a default VPC (with Boot).
	NoDefaultVPC bool
}

// DefaultECSAgentRelease is the newest ECS agent release the front
// reports when Options.ECSAgentRelease is zero.
const DefaultECSAgentRelease = "1.105.1"

// Server is the front. Its methods are safe to call concurrently.
type Server struct {
	o      Options
	clock  validate.Clock
	ln     *pipeListener
	http   *http.Server
	served chan struct{}
	client *http.Client // to kumo
	kumo   *url.URL
	kec2   *ec2.Client // straight to kumo
	kecs   *ecs.Client

	mu          sync.Mutex
	calls       map[string]int
	requests    []Request
	instances   map[string]*instance
	tokens      map[string]string // RunInstances ClientToken -> instance id
	containers  map[string]*container
	tasks       map[string]*task
	taskDefs    map[string]*TaskDefinition
	enis        map[string]*eni
	commands    map[string]*command
	images      map[string]*Image
	profiles    map[string]time.Time // instance profile name -> created
	imageParams []*imageParameter    // accepted, not yet checked
	seq         int

	// ecsServiceLinkedRole says AWSServiceRoleForECS exists.
	ecsServiceLinkedRole bool
	// networks are the VPCs DescribeSubnets, DescribeRouteTables and
	// DescribeVpcEndpoints answer from.
	networks []Network
	// build is what a Packer build made (with Options.Boot).
	build *buildState
}

// New starts a front for the kumo at o.Kumo, serving on an in-memory
// network (see HTTPClient). Close it at the end.
func New(o Options) (*Server, error) {
	u, err := url.Parse(o.Kumo)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("kumo url %q: not a URL", o.Kumo)
	}
	if o.Clock == nil {
		o.Clock = validate.RealClock{}
	}
	if o.Latencies.API == nil {
		o.Latencies.API = map[string]time.Duration{}
	}
	s := &Server{
		o:          o,
		clock:      o.Clock,
		ln:         newPipeListener(),
		served:     make(chan struct{}),
		kumo:       u,
		client:     &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
		calls:      map[string]int{},
		instances:  map[string]*instance{},
		tokens:     map[string]string{},
		containers: map[string]*container{},
		tasks:      map[string]*task{},
		taskDefs:   map[string]*TaskDefinition{},
		enis:       map[string]*eni{},
		commands:   map[string]*command{},
		images:     map[string]*Image{},

		ecsServiceLinkedRole: !o.NoECSServiceLinkedRole,
	}
	for _, n := range o.Networks {
		s.networks = append(s.networks, n.withDefaults())
	}
	for _, img := range o.Images {
		img = img.withDefaults()
		s.images[img.ID] = &img
	}
	kcfg := config(o.Kumo, s.client)
	s.kec2 = ec2.NewFromConfig(kcfg)
	s.kecs = ecs.NewFromConfig(kcfg)
	s.http = &http.Server{Handler: s}
	s.http.SetKeepAlivesEnabled(false)
	go func() {
		defer close(s.served)
		_ = s.http.Serve(s.ln)
	}()
	return s, nil
}

// Close stops serving and waits until the server is done.
func (s *Server) Close() {
	_ = s.http.Close()
	<-s.served
	s.client.CloseIdleConnections()
}

// HTTPClient returns a client whose requests, to any address, reach the
// front over the in-memory network.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: plainBody{&http.Transport{DialContext: s.ln.DialContext}}}
}

// plainBody hides the io.WriterTo of a request body. smithy-go wraps
// request bodies in a closer whose WriteTo returns io.EOF once the SDK has
// closed it, which it does as soon as the response is in; net/http, whose
// writeLoop may still be checking the body for extra bytes (with WriteTo)
// at that moment, takes that io.EOF for a failed body read and closes the
// connection, under the response the SDK is reading ("io: read/write on
// closed pipe"). On the in-memory network the response is in at once, so
// the race is frequent; over TCP it is rare. Read returns (0, io.EOF) after
// the close, which net/http takes as the end of the body.
type plainBody struct{ http.RoundTripper }

func (p plainBody) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.Clone(r.Context())
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return p.RoundTripper.RoundTrip(r)
}

// Config is an SDK configuration whose clients reach the front.
func (s *Server) Config() aws.Config {
	return config("http://aws.awssim", s.HTTPClient())
}

func config(endpoint string, c *http.Client) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   c,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: TestKey, SecretAccessKey: TestSecret, Source: "awssim"}, nil
		}),
	}
}

// Clients are SDK clients that reach the front.
func (s *Server) Clients() (*ec2.Client, *ecs.Client, *ssm.Client) {
	cfg := s.Config()
	return ec2.NewFromConfig(cfg), ecs.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
}

// Calls is how many times op was called.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Ops are the operations called so far, with how many times each was.
func (s *Server) Ops() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// Requests are the requests of op the front answered, in order.
func (s *Server) Requests(op string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// TaskDefinitions are the task definitions registered through the front.
func (s *Server) TaskDefinitions() []TaskDefinition {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []TaskDefinition
	for _, td := range s.taskDefs {
		out = append(out, *td)
	}
	return out
}

// protocol is how an operation is spoken.
type protocol int

const (
	queryProtocol protocol = iota // EC2, STS
	jsonProtocol                  // ECS, SSM
	iamProtocol                   // IAM: query, with IAM's error document
)

// reply is an answer to write.
type reply struct {
	status int
	ctype  string
	body   []byte
}

func jsonReply(v any) reply {
	b, err := json.Marshal(v)
	if err != nil {
		return errorReply(jsonProtocol, http.StatusInternalServerError, "InternalError", err.Error())
	}
	return reply{status: http.StatusOK, ctype: "application/x-amz-json-1.1", body: b}
}

func xmlReply(v any) reply {
	b, err := xml.Marshal(v)
	if err != nil {
		return errorReply(queryProtocol, http.StatusInternalServerError, "InternalError", err.Error())
	}
	return reply{status: http.StatusOK, ctype: "text/xml;charset=UTF-8", body: append([]byte(xml.Header), b...)}
}

func errorReply(p protocol, status int, code, msg string) reply {
	if p == jsonProtocol {
		b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
		return reply{status: status, ctype: "application/x-amz-json-1.1", body: b}
	}
	if p == iamProtocol {
		type iamError struct {
			XMLName   xml.Name `xml:"ErrorResponse"`
			Type      string   `xml:"Error>Type"`
			Code      string   `xml:"Error>Code"`
			Message   string   `xml:"Error>Message"`
			RequestID string   `xml:"RequestId"`
		}
		b, _ := xml.Marshal(iamError{Type: "Sender", Code: code, Message: msg, RequestID: "awssim"})
		return reply{status: status, ctype: "text/xml", body: append([]byte(xml.Header), b...)}
	}
	type xmlError struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	type xmlErrors struct {
		XMLName   xml.Name   `xml:"Response"`
		Errors    []xmlError `xml:"Errors>Error"`
		RequestID string     `xml:"RequestID"`
	}
	b, _ := xml.Marshal(xmlErrors{Errors: []xmlError{{Code: code, Message: msg}}, RequestID: "awssim"})
	return reply{status: status, ctype: "text/xml;charset=UTF-8", body: append([]byte(xml.Header), b...)}
}

// clientError is a 400 answer.
func clientError(p protocol, code, msg string) reply {
	return errorReply(p, http.StatusBadRequest, code, msg)
}

// sdkError turns an error of a call to kumo into an answer.
func sdkError(p protocol, err error) reply {
	var api smithy.APIError
	if errors.As(err, &api) {
		return clientError(p, api.ErrorCode(), api.ErrorMessage())
	}
	return errorReply(p, http.StatusBadGateway, "InternalError", "kumo: "+err.Error())
}

// call is one request, parsed.
type call struct {
	r     *http.Request
	body  []byte
	op    string
	proto protocol
	form  url.Values
	json  map[string]any
	now   time.Time
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c := &call{r: r, body: body}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		c.proto = jsonProtocol
		_, c.op, _ = strings.Cut(target, ".")
		if len(body) > 0 {
			if err := json.Unmarshal(body, &c.json); err != nil {
				s.write(w, clientError(jsonProtocol, "SerializationException", err.Error()))
				return
			}
		}
	} else {
		c.proto = queryProtocol
		c.form, err = url.ParseQuery(string(body))
		if err != nil {
			s.write(w, clientError(queryProtocol, "InvalidParameterValue", err.Error()))
			return
		}
		c.op = c.form.Get("Action")
		if service(r) == "iam" {
			c.proto = iamProtocol
		}
	}

	s.mu.Lock()
	s.calls[c.op]++
	n := s.calls[c.op]
	s.mu.Unlock()

	if rep, refused := s.refuse(c); refused {
		s.mu.Lock()
		s.requests = append(s.requests, Request{Op: c.op, Service: service(c.r), Time: s.clock.Now(), Form: c.form, JSON: c.json})
		s.mu.Unlock()
		s.write(w, rep)
		return
	}

	if d := s.o.Latencies.API[c.op]; d > 0 {
		select {
		case <-s.clock.After(d):
		case <-r.Context().Done():
			return // the caller gave up; the call never arrived
		}
	}
	if s.o.Fault != nil {
		if e := s.o.Fault(c.op, n); e != nil {
			s.write(w, clientError(c.proto, e.Code, e.Message))
			return
		}
	}

	s.mu.Lock()
	c.now = s.clock.Now()
	s.requests = append(s.requests, Request{Op: c.op, Service: service(c.r), Time: c.now, Form: c.form, JSON: c.json})
	s.advance(r.Context(), c.now)
	s.authorize(c)
	rep := s.answer(c)
	s.mu.Unlock()

	if s.o.Handled != nil {
		s.o.Handled(c.op, n)
	}
	if s.o.Drop != nil && s.o.Drop(c.op, n) {
		panic(http.ErrAbortHandler) // the server drops the connection
	}
	s.write(w, rep)
}

// service is the service a signed request is for: the one its signature
// is scoped to (Credential=AKID/date/region/service/aws4_request).
func service(r *http.Request) string {
	_, scope, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if parts := strings.Split(strings.SplitN(scope, ",", 2)[0], "/"); len(parts) == 5 {
		return parts[3]
	}
	return ""
}

// refuse answers, as AWS does, a request that is not signed (SigV4), and
// every request when the credentials are to be refused.
func (s *Server) refuse(c *call) (reply, bool) {
	if !strings.HasPrefix(c.r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		if c.proto == jsonProtocol {
			return errorReply(c.proto, http.StatusBadRequest, "MissingAuthenticationTokenException", "Missing Authentication Token"), true
		}
		return errorReply(c.proto, http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token"), true
	}
	if !s.o.InvalidCredentials {
		return reply{}, false
	}
	switch service(c.r) {
	case "sts":
		return errorReply(c.proto, http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid."), true
	case "ec2":
		return errorReply(c.proto, http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials"), true
	}
	return errorReply(c.proto, http.StatusBadRequest, "UnrecognizedClientException", "The security token included in the request is invalid."), true
}

func (s *Server) write(w http.ResponseWriter, rep reply) {
	w.Header().Set("Content-Type", rep.ctype)
	w.Header().Set("X-Amzn-RequestId", "awssim")
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

// answer answers c; s.mu is held.
func (s *Server) answer(c *call) reply {
	if rep, ok := s.answerBuild(c); ok {
		return rep
	}
	switch c.op {
	// EC2
	case "RunInstances":
		return s.runInstances(c)
	case "DescribeInstances":
		return s.describeInstances(c)
	case "TerminateInstances":
		return s.terminateInstances(c)
	case "RebootInstances":
		return s.rebootInstances(c)
	case "DescribeImages":
		return s.describeImages(c)
	case "CreateTags":
		return s.createTags(c)
	case "DescribeSubnets":
		return s.describeSubnets(c)
	case "DescribeRouteTables":
		return s.describeRouteTables(c)
	case "DescribeVpcEndpoints":
		return s.describeVpcEndpoints(c)
	case "DescribeNetworkInterfaces":
		return s.describeNetworkInterfaces(c)
	case "DeleteNetworkInterface":
		return s.deleteNetworkInterface(c)
	// IAM
	case "GetRole":
		if c.form.Get("RoleName") == ECSServiceLinkedRoleName {
			return s.getECSServiceLinkedRole(c)
		}
	case "CreateServiceLinkedRole":
		return s.createServiceLinkedRole(c)
	// ECS
	case "DeleteCluster":
		return s.deleteCluster(c)
	case "RegisterTaskDefinition":
		return s.registerTaskDefinition(c)
	case "DeregisterTaskDefinition":
		return s.deregisterTaskDefinition(c)
	case "ListTaskDefinitionFamilies":
		return s.listTaskDefinitionFamilies(c)
	case "ListTaskDefinitions":
		return s.listTaskDefinitions(c)
	case "DescribeTaskDefinition":
		return s.describeTaskDefinition(c)
	case "RunTask":
		return s.runTask(c)
	case "StopTask":
		return s.stopTask(c)
	case "DescribeTasks":
		return s.describeTasks(c)
	case "ListTasks":
		return s.listTasks(c)
	case "ListContainerInstances":
		return s.listContainerInstances(c)
	case "DescribeContainerInstances":
		return s.describeContainerInstances(c)
	case "DeregisterContainerInstance":
		return s.deregisterContainerInstance(c)
	// SSM
	case "SendCommand":
		return s.sendCommand(c)
	case "GetCommandInvocation":
		return s.hostFiles(s.getCommandInvocation(c), str(c.json, "CommandId"))
	case "PutParameter":
		return s.putParameter(c)
	case "GetParameter", "GetParameters", "GetParametersByPath", "GetParameterHistory", "DescribeParameters":
		return s.readParameters(c)
	}
	// CreateCluster, DescribeClusters, ListClusters, DescribeTags, ...:
	// kumo as it is.
	rep, err := s.forward(c)
	if err != nil {
		return errorReply(c.proto, http.StatusBadGateway, "InternalError", err.Error())
	}
	return rep
}

// forward sends c to kumo as it came, and returns kumo's answer.
func (s *Server) forward(c *call) (reply, error) {
	u := *s.kumo
	u.Path = c.r.URL.Path
	u.RawQuery = c.r.URL.RawQuery
	req, err := http.NewRequestWithContext(c.r.Context(), c.r.Method, u.String(), bytes.NewReader(c.body))
	if err != nil {
		return reply{}, err
	}
	for _, h := range []string{"Content-Type", "X-Amz-Target", "Authorization", "User-Agent", "X-Amz-Date", "X-Amz-Security-Token"} {
		if v := c.r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("kumo: %s: %w", c.op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("kumo: %s: %w", c.op, err)
	}
	return reply{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: b}, nil
}

// after is t+d, where Never never comes.
func after(t time.Time, d time.Duration) time.Time {
	if d >= Never {
		return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return t.Add(d)
}

// reached says whether now is at or past t+d.
func reached(t time.Time, d time.Duration, now time.Time) bool {
	return d < Never && !now.Before(t.Add(d))
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%08x", prefix, s.seq)
}
