package awssim

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

const arnPrefix = "arn:aws:ecs:us-east-1:000000000000:"

// container is a container instance: an instance's ECS agent registered
// in a cluster.
type container struct {
	arn, cluster, instance string
	registered             time.Time
	deregistered           time.Time // when DeregisterContainerInstance came; zero if it did not
}

// containerStatus is the container instance's status at now: INACTIVE
// once deregistered, or once its instance terminated with its agent
// connected (ECS deregisters it then). An instance whose agent ECS sees
// disconnected when it terminates stays ACTIVE, disconnected, until
// DeregisterContainerInstance: ECS does not deregister "instances with
// disconnected agents" when they terminate (DeregisterContainerInstance,
// ECS API reference).
func (s *Server) containerStatus(ci *container, now time.Time) string {
	if !ci.deregistered.IsZero() && !now.Before(ci.deregistered) {
		return "INACTIVE"
	}
	i := s.instances[ci.instance]
	if at, ok := s.terminatedAt(i); ok && !now.Before(at) && !s.agentSeenDown(i, at) {
		return "INACTIVE"
	}
	return "ACTIVE"
}

// connected is the container instance's agentConnected at now: what ECS
// reports, which is late to see a reboot or a dead agent (agentSeenDown).
// An agent whose instance terminated is not connected.
func (s *Server) connected(ci *container, now time.Time) bool {
	i := s.instances[ci.instance]
	if at, ok := s.terminatedAt(i); ok && !now.Before(at) {
		return false
	}
	return s.containerStatus(ci, now) == "ACTIVE" && !s.agentSeenDown(i, now)
}

// agentLost is when ECS lost the task's agent for good: the agent died
// (KillAgent), or ECS saw it disconnected when its instance terminated
// (then it did not deregister the instance). Zero: never.
func (s *Server) agentLost(i *instance) time.Time {
	if !i.agentDied.IsZero() {
		return i.agentDied
	}
	if at, ok := s.terminatedAt(i); ok && s.agentSeenDown(i, at) {
		return at
	}
	return time.Time{}
}

// task is the front's account of a task kumo stores (kumo runs tasks
// forever, with no exit code).
type task struct {
	arn, cluster, taskDef, instance, container, startedBy string
	td                                                    *TaskDefinition
	tags                                                  map[string]string
	created                                               time.Time
	run                                                   Run
	stopAt                                                time.Time // StopTask came
	stopReason                                            string
	eni                                                   *eni // an awsvpc task's network interface
	synced                                                bool // kumo told it stopped
}

type taskStatus struct {
	last, desired               string
	started, stopped            time.Time
	exit                        *int
	reason, stoppedReason, code string
}

// status is the task's state at now: it starts after TaskStart, then ends
// at the first of: its probe exits, StopTask takes effect, its instance
// terminates, its instance reboots.
func (s *Server) status(t *task, now time.Time) taskStatus {
	lat := s.o.Latencies
	startAt := t.created.Add(lat.TaskStart)
	runFor := t.run.For
	if runFor == 0 {
		runFor = lat.TaskRun
	}
	type end struct {
		at                    time.Time
		exit                  *int
		reason, stopped, code string
	}
	var ends []end
	switch {
	case t.run.NeverStarts:
		ends = append(ends, end{after(t.created, runFor), nil, t.run.Reason, or(t.run.StoppedReason, "Task failed to start"), "TaskFailedToStart"})
	case !t.run.Hold:
		ends = append(ends, end{after(startAt, runFor), t.run.ExitCode, t.run.Reason, or(t.run.StoppedReason, "Essential container in task exited"), "EssentialContainerExited"})
	}
	if !t.stopAt.IsZero() {
		at := after(t.stopAt, lat.TaskStop)
		var code *int
		if !at.Before(startAt) && !t.run.NeverStarts {
			code = Exit(137)
		}
		ends = append(ends, end{at, code, "", t.stopReason, "UserInitiated"})
	}
	i := s.instances[t.instance]
	if at, ok := s.terminatedAt(i); ok {
		ends = append(ends, end{at, nil, "", fmt.Sprintf("Host EC2 (instance %s) terminated.", i.id), "TerminationNotice"})
	}
	if !i.rebooted.IsZero() {
		if down := after(i.rebooted, lat.RebootDown); t.created.Before(down) {
			ends = append(ends, end{down, Exit(137), "", fmt.Sprintf("Host EC2 (instance %s) rebooted.", i.id), "TaskFailedToStart"})
		}
	}
	if lost := s.agentLost(i); !lost.IsZero() {
		// Nothing tells ECS of the task any more: neither its exit, nor
		// a StopTask, nor its host's end. It stays as it was (desired
		// STOPPED once StopTask came) until its container instance is
		// deregistered, by force: then ECS takes it for stopped.
		ends = slices.DeleteFunc(ends, func(e end) bool { return e.at.After(lost) })
		if ci := s.containers[t.container]; ci != nil && !ci.deregistered.IsZero() {
			ends = append(ends, end{ci.deregistered, nil, "", or(t.stopReason, "Container instance deregistered"), "UserInitiated"})
		}
	}
	sort.SliceStable(ends, func(a, b int) bool { return ends[a].at.Before(ends[b].at) })

	st := taskStatus{desired: "RUNNING"}
	if !t.stopAt.IsZero() {
		st.desired = "STOPPED"
	}
	if len(ends) > 0 && !now.Before(ends[0].at) {
		e := ends[0]
		st.last, st.desired, st.stopped = "STOPPED", "STOPPED", e.at
		st.exit, st.reason, st.stoppedReason, st.code = e.exit, e.reason, e.stopped, e.code
		if startAt.Before(e.at) && !t.run.NeverStarts {
			st.started = startAt
		}
		return st
	}
	if !now.Before(startAt) {
		st.last, st.started = "RUNNING", startAt
		return st
	}
	st.last = "PENDING"
	return st
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (s *Server) taskJSON(t *task, now time.Time) map[string]any {
	st := s.status(t, now)
	ctr := map[string]any{
		"containerArn": t.arn + "/" + t.td.Container,
		"taskArn":      t.arn,
		"name":         t.td.Container,
		"lastStatus":   st.last,
	}
	if st.exit != nil {
		ctr["exitCode"] = *st.exit
	}
	if st.reason != "" {
		ctr["reason"] = st.reason
	}
	m := map[string]any{
		"taskArn":              t.arn,
		"clusterArn":           arnPrefix + "cluster/" + t.cluster,
		"taskDefinitionArn":    t.taskDef,
		"containerInstanceArn": t.container,
		"lastStatus":           st.last,
		"desiredStatus":        st.desired,
		"launchType":           "EC2",
		"createdAt":            epoch(t.created),
		"group":                "family:" + t.td.Family,
		"containers":           []any{ctr},
		"tags":                 tagList(t.tags),
		"attachments":          s.attachments(t, now),
	}
	if t.startedBy != "" {
		m["startedBy"] = t.startedBy
	}
	if !st.started.IsZero() {
		m["startedAt"] = epoch(st.started)
	}
	if st.last == "STOPPED" {
		m["stoppedAt"] = epoch(st.stopped)
		m["stoppedReason"] = st.stoppedReason
		m["stopCode"] = st.code
	}
	return m
}

// advance brings kumo and the front's records up to now: an agent whose
// time has come registers (if its cluster exists), and kumo learns of the
// tasks that stopped (so that it lets their cluster go).
func (s *Server) advance(ctx context.Context, now time.Time) {
	lat := s.o.Latencies
	for _, i := range s.instances {
		if i.container != "" || i.agentGaveUp || i.cluster == "" || lat.InstanceBoot >= Never || lat.AgentRegister >= Never {
			continue
		}
		if !s.reaches(i.subnet, reachECS) {
			continue // the agent cannot reach ECS: it retries, forever
		}
		at := i.launched.Add(lat.InstanceBoot + lat.AgentRegister)
		if now.Before(at) {
			continue
		}
		if (!i.terminating.IsZero() && i.terminating.Before(at)) || (!i.agentDied.IsZero() && i.agentDied.Before(at)) {
			i.agentGaveUp = true
			continue
		}
		if !s.clusterExists(ctx, i.cluster) {
			i.agentGaveUp = true
			continue
		}
		ci := &container{
			arn:        arnPrefix + "container-instance/" + i.cluster + "/" + s.nextID("ci"),
			cluster:    i.cluster,
			instance:   i.id,
			registered: at,
		}
		s.containers[ci.arn] = ci
		i.container = ci.arn
	}
	for _, t := range s.tasks {
		if t.synced {
			continue
		}
		st := s.status(t, now)
		if st.last != "STOPPED" {
			continue
		}
		_, err := s.kecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(t.cluster), Task: aws.String(t.arn), Reason: aws.String(st.stoppedReason)})
		if err == nil || strings.Contains(err.Error(), "not found") {
			t.synced = true
		}
	}
}

func (s *Server) clusterExists(ctx context.Context, name string) bool {
	out, err := s.kecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{name}})
	if err != nil {
		return false
	}
	for _, c := range out.Clusters {
		if aws.ToString(c.ClusterName) == name && aws.ToString(c.Status) == "ACTIVE" {
			return true
		}
	}
	return false
}

// clusterName is the name in a cluster name or ARN; empty is "default".
func clusterName(ref string) string {
	if ref == "" {
		return "default"
	}
	if i := strings.LastIndex(ref, "cluster/"); i >= 0 {
		return ref[i+len("cluster/"):]
	}
	return ref
}

// JSON accessors.

func str(m map[string]any, key string) string {
	v, _ := m[key].(string)
	return v
}

func strs(m map[string]any, key string) []string {
	var out []string
	l, _ := m[key].([]any)
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func obj(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

func objs(m map[string]any, key string) []map[string]any {
	var out []map[string]any
	l, _ := m[key].([]any)
	for _, v := range l {
		if o, ok := v.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

func tagMap(m map[string]any) map[string]string {
	out := map[string]string{}
	for _, t := range objs(m, "tags") {
		out[str(t, "key")] = str(t, "value")
	}
	return out
}

func tagList(tags map[string]string) []any {
	out := []any{}
	for _, k := range sortedKeys(tags) {
		out = append(out, map[string]string{"key": k, "value": tags[k]})
	}
	return out
}

func clusterNotFound() reply {
	return clientError(jsonProtocol, "ClusterNotFoundException", "Cluster not found.")
}

// deleteCluster refuses, as ECS does, while the cluster has active
// container instances or tasks that are not stopped; then kumo deletes it.
func (s *Server) deleteCluster(c *call) reply {
	name := clusterName(str(c.json, "cluster"))
	for _, ci := range s.containers {
		if ci.cluster == name && s.containerStatus(ci, c.now) == "ACTIVE" {
			return clientError(jsonProtocol, "ClusterContainsContainerInstancesException", "The Cluster cannot be deleted while Container Instances are active or draining.")
		}
	}
	for _, t := range s.tasks {
		if t.cluster == name && s.status(t, c.now).last != "STOPPED" {
			return clientError(jsonProtocol, "ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")
		}
	}
	rep, err := s.forward(c)
	if err != nil {
		return errorReply(jsonProtocol, 502, "InternalError", err.Error())
	}
	return rep
}

// registerTaskDefinition has kumo register it, and keeps an index (kumo
// has no way to list or describe task definitions).
func (s *Server) registerTaskDefinition(c *call) reply {
	rep, err := s.forward(c)
	if err != nil {
		return errorReply(jsonProtocol, 502, "InternalError", err.Error())
	}
	if rep.status != 200 {
		return rep
	}
	var out struct {
		TaskDefinition struct {
			TaskDefinitionArn string `json:"taskDefinitionArn"`
		} `json:"taskDefinition"`
	}
	if err := json.Unmarshal(rep.body, &out); err != nil {
		return errorReply(jsonProtocol, 502, "InternalError", "kumo: "+err.Error())
	}
	td := &TaskDefinition{
		ARN:         out.TaskDefinition.TaskDefinitionArn,
		Family:      str(c.json, "family"),
		NetworkMode: or(str(c.json, "networkMode"), "bridge"),
		TaskRoleARN: str(c.json, "taskRoleArn"),
		Status:      "ACTIVE",
		Tags:        tagMap(c.json),
	}
	if defs := objs(c.json, "containerDefinitions"); len(defs) > 0 {
		td.Container = str(defs[0], "name")
		td.Image = str(defs[0], "image")
		td.Command = strs(defs[0], "command")
	}
	s.taskDefs[td.ARN] = td
	return rep
}

func (s *Server) deregisterTaskDefinition(c *call) reply {
	td := s.findTaskDef(str(c.json, "taskDefinition"))
	rep, err := s.forward(c)
	if err != nil {
		return errorReply(jsonProtocol, 502, "InternalError", err.Error())
	}
	if rep.status == 200 && td != nil {
		td.Status = "INACTIVE"
	}
	return rep
}

// findTaskDef resolves an ARN, family:revision or family (its latest
// active revision).
func (s *Server) findTaskDef(ref string) *TaskDefinition {
	if td, ok := s.taskDefs[ref]; ok {
		return td
	}
	var best *TaskDefinition
	for _, td := range s.taskDefs {
		famRev := td.ARN[strings.LastIndex(td.ARN, "/")+1:]
		if famRev == ref {
			return td
		}
		if td.Family == ref && td.Status == "ACTIVE" && (best == nil || revision(td.ARN) > revision(best.ARN)) {
			best = td
		}
	}
	return best
}

func revision(arn string) int {
	var n int
	_, _ = fmt.Sscanf(arn[strings.LastIndex(arn, ":")+1:], "%d", &n)
	return n
}

func (s *Server) sortedTaskDefs() []*TaskDefinition {
	var out []*TaskDefinition
	for _, td := range s.taskDefs {
		out = append(out, td)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Family != out[b].Family {
			return out[a].Family < out[b].Family
		}
		return revision(out[a].ARN) < revision(out[b].ARN)
	})
	return out
}

func statusMatches(want, have string) bool {
	return want == "" || want == "ALL" || want == have
}

func (s *Server) listTaskDefinitionFamilies(c *call) reply {
	prefix, status := str(c.json, "familyPrefix"), str(c.json, "status")
	families := []string{}
	for _, td := range s.sortedTaskDefs() {
		if strings.HasPrefix(td.Family, prefix) && statusMatches(status, td.Status) && !slices.Contains(families, td.Family) {
			families = append(families, td.Family)
		}
	}
	return jsonReply(map[string]any{"families": families})
}

func (s *Server) listTaskDefinitions(c *call) reply {
	family, status := str(c.json, "familyPrefix"), or(str(c.json, "status"), "ACTIVE")
	arns := []string{}
	for _, td := range s.sortedTaskDefs() {
		if (family == "" || td.Family == family) && statusMatches(status, td.Status) {
			arns = append(arns, td.ARN)
		}
	}
	return jsonReply(map[string]any{"taskDefinitionArns": arns})
}

func (s *Server) describeTaskDefinition(c *call) reply {
	td := s.findTaskDef(str(c.json, "taskDefinition"))
	if td == nil {
		return clientError(jsonProtocol, "ClientException", "Unable to describe task definition.")
	}
	out := map[string]any{"taskDefinition": map[string]any{
		"taskDefinitionArn": td.ARN,
		"family":            td.Family,
		"revision":          revision(td.ARN),
		"status":            td.Status,
		"networkMode":       td.NetworkMode,
		"taskRoleArn":       td.TaskRoleARN,
		"containerDefinitions": []any{map[string]any{
			"name": td.Container, "command": td.Command,
		}},
	}}
	if slices.Contains(strs(c.json, "include"), "TAGS") {
		out["tags"] = tagList(td.Tags)
	}
	return jsonReply(out)
}

var memberOf = regexp.MustCompile(`^\s*ec2InstanceId\s*==\s*'?([A-Za-z0-9-]+)'?\s*$`)

// runTask places the task as ECS would (an ACTIVE, connected container
// instance of the cluster that satisfies the memberOf constraint; network
// configuration if and only if the mode is awsvpc), has kumo create it,
// and answers with the front's account of it (PENDING).
func (s *Server) runTask(c *call) reply {
	name := clusterName(str(c.json, "cluster"))
	if !s.clusterExists(c.r.Context(), name) {
		return clusterNotFound()
	}
	td := s.findTaskDef(str(c.json, "taskDefinition"))
	if td == nil {
		return clientError(jsonProtocol, "ClientException", "TaskDefinition not found.")
	}
	if td.Status != "ACTIVE" {
		return clientError(jsonProtocol, "ClientException", "TaskDefinition is inactive")
	}
	if lt := str(c.json, "launchType"); lt != "" && lt != "EC2" {
		return clientError(jsonProtocol, "InvalidParameterException", fmt.Sprintf("launch type %s: this emulator runs EC2 tasks only", lt))
	}
	awsvpc := obj(obj(c.json, "networkConfiguration"), "awsvpcConfiguration")
	switch {
	case td.NetworkMode == "awsvpc" && len(strs(awsvpc, "subnets")) == 0:
		return clientError(jsonProtocol, "InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	case td.NetworkMode != "awsvpc" && obj(c.json, "networkConfiguration") != nil:
		return clientError(jsonProtocol, "InvalidParameterException", "Network Configuration is not valid for the given networkMode of this task definition.")
	case td.NetworkMode == "awsvpc" && !s.ecsServiceLinkedRole:
		// ECS attaches an awsvpc task's network interface as its
		// service-linked role; an account without the role (a fresh one)
		// is refused so.
		return clientError(jsonProtocol, "InvalidParameterException", ECSServiceLinkedRoleMissing)
	}

	var candidates []*container
	for _, ci := range s.containers {
		if ci.cluster == name && s.containerStatus(ci, c.now) == "ACTIVE" {
			candidates = append(candidates, ci)
		}
	}
	if len(candidates) == 0 {
		return clientError(jsonProtocol, "InvalidParameterException", "No Container Instances were found in your cluster.")
	}
	var placed *container
	var fails []any
	for _, ci := range candidates {
		ok := s.connected(ci, c.now)
		for _, pc := range objs(c.json, "placementConstraints") {
			if str(pc, "type") != "memberOf" {
				continue
			}
			m := memberOf.FindStringSubmatch(str(pc, "expression"))
			if m == nil {
				return clientError(jsonProtocol, "InvalidParameterException", fmt.Sprintf("unsupported placement expression %q", str(pc, "expression")))
			}
			if m[1] != ci.instance {
				ok = false
			}
		}
		if ok {
			placed = ci
			break
		}
		fails = append(fails, map[string]string{"arn": ci.arn, "reason": "MemberOf placement constraint unsatisfied."})
	}
	if placed == nil {
		return jsonReply(map[string]any{"tasks": []any{}, "failures": fails})
	}

	rep, err := s.forward(c)
	if err != nil {
		return errorReply(jsonProtocol, 502, "InternalError", err.Error())
	}
	if rep.status != 200 {
		return rep
	}
	var out struct {
		Tasks []struct {
			TaskArn string `json:"taskArn"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal(rep.body, &out); err != nil || len(out.Tasks) != 1 {
		return errorReply(jsonProtocol, 502, "InternalError", fmt.Sprintf("kumo: RunTask: %s", rep.body))
	}
	t := &task{
		arn:       out.Tasks[0].TaskArn,
		cluster:   name,
		taskDef:   td.ARN,
		td:        td,
		instance:  placed.instance,
		container: placed.arn,
		startedBy: str(c.json, "startedBy"),
		tags:      tagMap(c.json),
		created:   c.now,
		run:       Run{ExitCode: Exit(0)},
	}
	if s.o.Probe != nil {
		t.run = s.o.Probe(*td)
	}
	if i := s.instances[placed.instance]; i != nil && !s.reaches(i.subnet, registryOf(td.Image)) {
		// The agent pulls the image through the host's network, and
		// times out.
		t.run = Run{NeverStarts: true, For: time.Minute, StoppedReason: "Task failed to start",
			Reason: fmt.Sprintf("CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref %s: dial tcp: i/o timeout", td.Image)}
	}
	if td.NetworkMode == "awsvpc" {
		s.taskENI(t, strs(awsvpc, "subnets")[0], strs(awsvpc, "securityGroups"))
	}
	s.tasks[t.arn] = t
	return jsonReply(map[string]any{"tasks": []any{s.taskJSON(t, c.now)}, "failures": []any{}})
}

// byRef finds what an ECS call names by its ARN or by the id that ends it.
func byRef[T any](m map[string]*T, ref string) *T {
	if v, ok := m[ref]; ok {
		return v
	}
	for arn, v := range m {
		if strings.HasSuffix(arn, "/"+ref) {
			return v
		}
	}
	return nil
}

func (s *Server) findTask(ref string) *task { return byRef(s.tasks, ref) }

// stopTask asks the task to stop: it is STOPPED after Latencies.TaskStop.
func (s *Server) stopTask(c *call) reply {
	t := s.findTask(str(c.json, "task"))
	if t == nil || t.cluster != clusterName(str(c.json, "cluster")) {
		return clientError(jsonProtocol, "InvalidParameterException", "The referenced task was not found.")
	}
	if t.stopAt.IsZero() && s.status(t, c.now).last != "STOPPED" {
		t.stopAt = c.now
		t.stopReason = or(str(c.json, "reason"), "Task stopped by user")
	}
	return jsonReply(map[string]any{"task": s.taskJSON(t, c.now)})
}

func (s *Server) describeTasks(c *call) reply {
	name := clusterName(str(c.json, "cluster"))
	tasks, fails := []any{}, []any{}
	for _, ref := range strs(c.json, "tasks") {
		t := s.findTask(ref)
		if t == nil || t.cluster != name {
			fails = append(fails, map[string]string{"arn": ref, "reason": "MISSING"})
			continue
		}
		tasks = append(tasks, s.taskJSON(t, c.now))
	}
	return jsonReply(map[string]any{"tasks": tasks, "failures": fails})
}

func (s *Server) listTasks(c *call) reply {
	name := clusterName(str(c.json, "cluster"))
	if !s.clusterExists(c.r.Context(), name) {
		return clusterNotFound()
	}
	desired := or(str(c.json, "desiredStatus"), "RUNNING")
	var ts []*task
	for _, t := range s.tasks {
		if t.cluster != name || s.status(t, c.now).desired != desired {
			continue
		}
		if ci := str(c.json, "containerInstance"); ci != "" && ci != t.container {
			continue
		}
		if f := str(c.json, "family"); f != "" && f != t.td.Family {
			continue
		}
		if by := str(c.json, "startedBy"); by != "" && by != t.startedBy {
			continue
		}
		ts = append(ts, t)
	}
	sort.Slice(ts, func(a, b int) bool { return ts[a].created.Before(ts[b].created) })
	arns := []string{}
	for _, t := range ts {
		arns = append(arns, t.arn)
	}
	return jsonReply(map[string]any{"taskArns": arns})
}

// listContainerInstances (kumo lacks it) supports the filter
// "ec2InstanceId == <id>" and the status filter.
func (s *Server) listContainerInstances(c *call) reply {
	name := clusterName(str(c.json, "cluster"))
	if !s.clusterExists(c.r.Context(), name) {
		return clusterNotFound()
	}
	want := ""
	if f := str(c.json, "filter"); f != "" {
		m := memberOf.FindStringSubmatch(f)
		if m == nil {
			return clientError(jsonProtocol, "InvalidParameterException", fmt.Sprintf("unsupported filter %q", f))
		}
		want = m[1]
	}
	status := str(c.json, "status")
	var cis []*container
	for _, ci := range s.containers {
		st := s.containerStatus(ci, c.now)
		if ci.cluster != name || (want != "" && ci.instance != want) {
			continue
		}
		if (status == "" && st == "INACTIVE") || (status != "" && st != status) {
			continue
		}
		cis = append(cis, ci)
	}
	sort.Slice(cis, func(a, b int) bool { return cis[a].arn < cis[b].arn })
	arns := []string{}
	for _, ci := range cis {
		arns = append(arns, ci.arn)
	}
	return jsonReply(map[string]any{"containerInstanceArns": arns})
}

func (s *Server) containerJSON(ci *container, now time.Time) map[string]any {
	running, pending := 0, 0
	for _, t := range s.tasks {
		if t.container != ci.arn {
			continue
		}
		switch s.status(t, now).last {
		case "RUNNING":
			running++
		case "PENDING":
			pending++
		}
	}
	return map[string]any{
		"containerInstanceArn": ci.arn,
		"ec2InstanceId":        ci.instance,
		"status":               s.containerStatus(ci, now),
		"agentConnected":       s.connected(ci, now),
		"runningTasksCount":    running,
		"pendingTasksCount":    pending,
		"registeredAt":         epoch(ci.registered),
	}
}

func (s *Server) describeContainerInstances(c *call) reply {
	name := clusterName(str(c.json, "cluster"))
	cis, fails := []any{}, []any{}
	for _, ref := range strs(c.json, "containerInstances") {
		ci := s.findContainer(ref)
		if ci == nil || ci.cluster != name {
			fails = append(fails, map[string]string{"arn": ref, "reason": "MISSING"})
			continue
		}
		cis = append(cis, s.containerJSON(ci, c.now))
	}
	return jsonReply(map[string]any{"containerInstances": cis, "failures": fails})
}

func (s *Server) findContainer(ref string) *container { return byRef(s.containers, ref) }

func (s *Server) deregisterContainerInstance(c *call) reply {
	ci := s.findContainer(str(c.json, "containerInstance"))
	if ci == nil || ci.cluster != clusterName(str(c.json, "cluster")) {
		return clientError(jsonProtocol, "InvalidParameterException", "Container instance not found.")
	}
	if force, _ := c.json["force"].(bool); !force {
		for _, t := range s.tasks {
			if t.container == ci.arn && s.status(t, c.now).last != "STOPPED" {
				return clientError(jsonProtocol, "InvalidParameterException", "Found running tasks on the instance.")
			}
		}
	}
	if ci.deregistered.IsZero() {
		ci.deregistered = c.now
	}
	return jsonReply(map[string]any{"containerInstance": s.containerJSON(ci, c.now)})
}
