package awssim

import (
	"encoding/xml"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cisecs/cisecs/release"
)

// eni is the network interface ECS creates for an awsvpc task (kumo has
// none): ECS creates it, in the task's subnet with its security groups,
// and attaches it to the task's instance before the task starts. ECS tags
// it with nothing: not the task's tags, whatever RunTask's propagateTags
// and enableECSManagedTags say (aws/containers-roadmap#567, #2787).
//
// When the task stops with its agent there (it exits, or StopTask), ECS
// detaches the interface and deletes it. When the task's host terminates
// under it, or the agent is lost, the interface is detached with the
// instance and left "available": nothing deletes it but a
// DeleteNetworkInterface (what a killed gate run leaves).
type eni struct {
	id, subnet, description string
	groups                  []string
	task                    *task
	tags                    map[string]string
	deleted                 bool
}

// eniStatus is the interface's status at now: "" before it exists (the
// task has not started) and once it is deleted, "in-use" while its task
// runs, "available" once left behind.
func (s *Server) eniStatus(n *eni, now time.Time) string {
	if n.deleted {
		return ""
	}
	st := s.status(n.task, now)
	switch st.last {
	case "PENDING":
		if now.Before(n.task.created.Add(s.o.Latencies.TaskStart)) {
			return ""
		}
		return "in-use"
	case "RUNNING":
		return "in-use"
	}
	if st.started.IsZero() {
		return "" // never started: ECS deleted what it had made
	}
	if st.code == "TerminationNotice" || !s.agentLost(s.instances[n.task.instance]).IsZero() {
		return "available"
	}
	return ""
}

// taskENI creates the interface of a new awsvpc task; s.mu is held.
func (s *Server) taskENI(t *task, subnet string, groups []string) {
	n := &eni{
		id:          "eni-" + s.nextID("0"),
		subnet:      subnet,
		groups:      groups,
		description: arnPrefix + "attachment/" + s.nextID("att"),
		task:        t,
		tags:        map[string]string{},
	}
	s.enis[n.id] = n
	t.eni = n
}

// attachments is the task's attachments in DescribeTasks: its interface,
// with its id once ECS made it.
func (s *Server) attachments(t *task, now time.Time) []any {
	n := t.eni
	if n == nil {
		return []any{}
	}
	details := []any{map[string]string{"name": "subnetId", "value": n.subnet}}
	status := "PRECREATED"
	switch s.eniStatus(n, now) {
	case "in-use":
		status = "ATTACHED"
		details = append(details, map[string]string{"name": "networkInterfaceId", "value": n.id})
	case "available":
		status = "DETACHED"
		details = append(details, map[string]string{"name": "networkInterfaceId", "value": n.id})
	default:
		if s.status(t, now).last == "STOPPED" {
			status = "DELETED"
		}
	}
	return []any{map[string]any{"id": strings.TrimPrefix(n.description, arnPrefix+"attachment/"), "type": "ElasticNetworkInterface", "status": status, "details": details}}
}

// tagENIs tags the interfaces among ids (CreateTags); it reports whether
// ids named any. s.mu is held.
func (s *Server) tagENIs(ids []string, tags map[string]string, now time.Time) (bool, *reply) {
	var found bool
	for _, id := range ids {
		if !strings.HasPrefix(id, "eni-") {
			continue
		}
		n, ok := s.enis[id]
		if !ok || s.eniStatus(n, now) == "" {
			r := clientError(queryProtocol, "InvalidNetworkInterfaceID.NotFound", fmt.Sprintf("The networkInterface ID '%s' does not exist", id))
			return true, &r
		}
		maps.Copy(n.tags, tags)
		found = true
	}
	return found, nil
}

// describeNetworkInterfaces answers from the front's interfaces, by id
// (NetworkInterfaceId.N) and the filters tag:<key>, tag-key, status,
// subnet-id, description and group-id.
func (s *Server) describeNetworkInterfaces(c *call) reply {
	type group struct {
		ID string `xml:"groupId"`
	}
	type item struct {
		ID          string   `xml:"networkInterfaceId"`
		Subnet      string   `xml:"subnetId"`
		Description string   `xml:"description"`
		Status      string   `xml:"status"`
		Type        string   `xml:"interfaceType"`
		Groups      []group  `xml:"groupSet>item"`
		Tags        []xmlTag `xml:"tagSet>item"`
	}
	type out struct {
		XMLName xml.Name `xml:"DescribeNetworkInterfacesResponse"`
		NS      string   `xml:"xmlns,attr"`
		ReqID   string   `xml:"requestId"`
		Items   []item   `xml:"networkInterfaceSet>item"`
	}
	ids, f := listed(c.form, "NetworkInterfaceId"), filters(c.form)
	for name := range f {
		if !strings.HasPrefix(name, "tag:") && !slices.Contains([]string{"tag-key", "status", "subnet-id", "description", "group-id"}, name) {
			return clientError(queryProtocol, "InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", name))
		}
	}
	for _, id := range ids {
		if n, ok := s.enis[id]; !ok || s.eniStatus(n, c.now) == "" {
			return clientError(queryProtocol, "InvalidNetworkInterfaceID.NotFound", fmt.Sprintf("The networkInterface ID '%s' does not exist", id))
		}
	}
	var items []item
	for _, id := range slices.Sorted(maps.Keys(s.enis)) {
		n := s.enis[id]
		status := s.eniStatus(n, c.now)
		if status == "" || (len(ids) > 0 && !slices.Contains(ids, id)) {
			continue
		}
		if !matches(f, "status", status) || !matches(f, "subnet-id", n.subnet) || !matches(f, "description", n.description) {
			continue
		}
		if g, ok := f["group-id"]; ok && !slices.ContainsFunc(n.groups, func(x string) bool { return slices.Contains(g, x) }) {
			continue
		}
		ok := true
		for name, vs := range f {
			if k, isTag := strings.CutPrefix(name, "tag:"); isTag {
				v, has := n.tags[k]
				ok = ok && has && slices.Contains(vs, v)
			}
		}
		if keys, has := f["tag-key"]; has {
			ok = ok && slices.ContainsFunc(keys, func(k string) bool { _, has := n.tags[k]; return has })
		}
		if !ok {
			continue
		}
		x := item{ID: n.id, Subnet: n.subnet, Description: n.description, Status: status, Type: "interface"}
		for _, g := range n.groups {
			x.Groups = append(x.Groups, group{g})
		}
		for _, k := range sortedKeys(n.tags) {
			x.Tags = append(x.Tags, xmlTag{Key: k, Value: n.tags[k]})
		}
		items = append(items, x)
	}
	return xmlReply(out{NS: ec2NS, ReqID: "awssim", Items: items})
}

// deleteNetworkInterface deletes an available interface; one in use is
// refused (InvalidNetworkInterface.InUse), as EC2 does.
func (s *Server) deleteNetworkInterface(c *call) reply {
	id := c.form.Get("NetworkInterfaceId")
	n, ok := s.enis[id]
	if !ok || s.eniStatus(n, c.now) == "" {
		return clientError(queryProtocol, "InvalidNetworkInterfaceID.NotFound", fmt.Sprintf("The networkInterface ID '%s' does not exist", id))
	}
	if s.eniStatus(n, c.now) == "in-use" {
		return clientError(queryProtocol, "InvalidNetworkInterface.InUse", fmt.Sprintf("Network interface '%s' is currently in use.", id))
	}
	n.deleted = true
	type resp struct {
		XMLName   xml.Name `xml:"DeleteNetworkInterfaceResponse"`
		NS        string   `xml:"xmlns,attr"`
		RequestID string   `xml:"requestId"`
		Return    bool     `xml:"return"`
	}
	return xmlReply(resp{NS: ec2NS, RequestID: "awssim", Return: true})
}

// ENIs lists the interfaces of run's tasks that exist at now, as
// "<id> <status>".
func (s *Server) ENIs(run string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	var out []string
	for _, n := range s.enis {
		if n.task.tags[release.TagRunID] != run {
			continue
		}
		if st := s.eniStatus(n, now); st != "" {
			out = append(out, n.id+" "+st)
		}
	}
	sort.Strings(out)
	return out
}
