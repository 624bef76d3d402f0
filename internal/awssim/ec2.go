package awssim

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// instance is the front's account of an instance kumo stores.
type instance struct {
	id, image, instanceType, subnet string
	reservation                     string
	cluster                         string // ECS_CLUSTER in its user data
	launched                        time.Time
	terminating                     time.Time   // when TerminateInstances came; zero if it did not
	rebooted                        time.Time   // when the last RebootInstances came
	reboots                         []time.Time // when each RebootInstances came
	agentDrops                      []span      // when its agent lost ECS without a reboot
	agentDied                       time.Time   // when its agent died for good (KillAgent); zero if it did not
	container                       string      // its container instance ARN, once registered
	agentGaveUp                     bool        // its cluster did not exist when the agent started
	tags                            map[string]string
}

// state is the instance's EC2 state at now.
func (s *Server) state(i *instance, now time.Time) (int, string) {
	if !i.terminating.IsZero() {
		if reached(i.terminating, s.o.Latencies.Terminate, now) {
			return 48, "terminated"
		}
		return 32, "shutting-down"
	}
	if reached(i.launched, s.o.Latencies.InstanceBoot, now) {
		return 16, "running"
	}
	return 0, "pending"
}

func (s *Server) terminatedAt(i *instance) (time.Time, bool) {
	if i.terminating.IsZero() {
		return time.Time{}, false
	}
	return after(i.terminating, s.o.Latencies.Terminate), true
}

// indexed reads the query list prefix.1, prefix.2, ...
func indexed(form map[string][]string, prefix string) []string {
	var out []string
	for n := 1; ; n++ {
		v, ok := form[prefix+"."+strconv.Itoa(n)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// tagSpecs reads TagSpecification.N: resource type -> tags.
func tagSpecs(form map[string][]string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for n := 1; ; n++ {
		p := fmt.Sprintf("TagSpecification.%d.", n)
		rt, ok := form[p+"ResourceType"]
		if !ok {
			return out
		}
		tags := map[string]string{}
		for m := 1; ; m++ {
			k, ok := form[fmt.Sprintf("%sTag.%d.Key", p, m)]
			if !ok {
				break
			}
			tags[k[0]] = first(form[fmt.Sprintf("%sTag.%d.Value", p, m)])
		}
		out[rt[0]] = tags
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

var ecsClusterLine = regexp.MustCompile(`(?m)^ECS_CLUSTER=([A-Za-z0-9_-]+)\s*$`)

// XML shapes of EC2's answers.
type (
	xmlTag struct {
		Key   string `xml:"key"`
		Value string `xml:"value"`
	}
	xmlState struct {
		Code int    `xml:"code"`
		Name string `xml:"name"`
	}
	xmlInstance struct {
		InstanceID   string   `xml:"instanceId"`
		ImageID      string   `xml:"imageId"`
		State        xmlState `xml:"instanceState"`
		InstanceType string   `xml:"instanceType"`
		SubnetID     string   `xml:"subnetId,omitempty"`
		LaunchTime   string   `xml:"launchTime"`
		Tags         []xmlTag `xml:"tagSet>item"`
	}
	xmlReservation struct {
		ReservationID string        `xml:"reservationId"`
		OwnerID       string        `xml:"ownerId"`
		Instances     []xmlInstance `xml:"instancesSet>item"`
	}
	xmlStateChange struct {
		InstanceID string   `xml:"instanceId"`
		Current    xmlState `xml:"currentState"`
		Previous   xmlState `xml:"previousState"`
	}
)

const ec2NS = "http://ec2.amazonaws.com/doc/2016-11-15/"

func (s *Server) xmlInstance(i *instance, now time.Time) xmlInstance {
	code, name := s.state(i, now)
	x := xmlInstance{
		InstanceID:   i.id,
		ImageID:      i.image,
		State:        xmlState{Code: code, Name: name},
		InstanceType: i.instanceType,
		SubnetID:     i.subnet,
		LaunchTime:   i.launched.UTC().Format("2006-01-02T15:04:05.000Z"),
	}
	for _, k := range sortedKeys(i.tags) {
		x.Tags = append(x.Tags, xmlTag{Key: k, Value: i.tags[k]})
	}
	return x
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// instanceTypeArchs are the CPU architectures of the instance families the
// front knows (those the gate and its tests use); it refuses any other
// type, so that a test cannot pass on a type EC2 would not launch.
var instanceTypeArchs = map[string]string{
	"t2": "x86_64", "t3": "x86_64", "t3a": "x86_64", "m5": "x86_64", "c5": "x86_64",
	"m6i": "x86_64", "c6i": "x86_64", "m7i": "x86_64", "c7i": "x86_64",
	"t4g": "arm64", "m6g": "arm64", "c6g": "arm64", "m7g": "arm64", "c7g": "arm64",
}

// InstanceTypeArchitecture is the CPU architecture of the instance type
// t, as the front knows it; false for a type it does not know.
func InstanceTypeArchitecture(t string) (string, bool) {
	family, _, ok := strings.Cut(t, ".")
	if !ok {
		return "", false
	}
	arch, ok := instanceTypeArchs[family]
	return arch, ok
}

// checkLaunch refuses, as EC2 does, to launch an image that is not in the
// catalogue, an instance type the front does not know, and an instance
// type whose architecture is not the image's.
func (s *Server) checkLaunch(imageID, instanceType string) (reply, bool) {
	img, ok := s.images[imageID]
	if !ok {
		return clientError(queryProtocol, "InvalidAMIID.NotFound", fmt.Sprintf("The image id '[%s]' does not exist", imageID)), false
	}
	arch, ok := InstanceTypeArchitecture(instanceType)
	if !ok {
		return clientError(queryProtocol, "InvalidParameterValue", fmt.Sprintf("Invalid value '%s' for InstanceType.", instanceType)), false
	}
	if arch != img.Architecture {
		return clientError(queryProtocol, "InvalidParameterValue", fmt.Sprintf(
			"The architecture '%s' of the specified instance type does not match the architecture '%s' of the specified AMI. "+
				"Specify an instance type and an AMI that have matching architectures, and try again. "+
				"You can use 'describe-instance-types' or 'describe-images' to discover the architecture of the instance type or AMI.",
			arch, img.Architecture)), false
	}
	return reply{}, true
}

// runInstances has kumo create the instance, tags it (kumo ignores
// TagSpecifications) and starts its boot. A ClientToken seen before gets
// the same instance, as EC2's idempotency does. The image must be in the
// catalogue, and the instance type's architecture the image's
// (checkLaunch).
func (s *Server) runInstances(c *call) reply {
	f := c.form
	token := f.Get("ClientToken")
	id, seen := s.tokens[token]
	if !seen || token == "" {
		if rep, ok := s.checkLaunch(f.Get("ImageId"), f.Get("InstanceType")); !ok {
			return rep
		}
		if rep, ok := s.checkProfile(f, c.now); !ok {
			return rep
		}
		out, err := s.kec2.RunInstances(c.r.Context(), &ec2.RunInstancesInput{
			ImageId:          aws.String(f.Get("ImageId")),
			InstanceType:     ec2types.InstanceType(f.Get("InstanceType")),
			MinCount:         aws.Int32(1),
			MaxCount:         aws.Int32(1),
			SecurityGroupIds: indexed(f, "SecurityGroupId"),
		})
		if err != nil {
			return sdkError(queryProtocol, err)
		}
		if len(out.Instances) != 1 {
			return clientError(queryProtocol, "InternalError", "kumo started no instance")
		}
		id = aws.ToString(out.Instances[0].InstanceId)
		i := &instance{
			id:           id,
			image:        f.Get("ImageId"),
			instanceType: f.Get("InstanceType"),
			subnet:       f.Get("SubnetId"),
			reservation:  aws.ToString(out.ReservationId),
			launched:     c.now,
			tags:         tagSpecs(f)["instance"],
		}
		if ud, err := base64.StdEncoding.DecodeString(f.Get("UserData")); err == nil {
			if m := ecsClusterLine.FindAllSubmatch(ud, -1); len(m) > 0 {
				i.cluster = string(m[len(m)-1][1])
			}
		}
		if len(i.tags) > 0 {
			var tags []ec2types.Tag
			for _, k := range sortedKeys(i.tags) {
				tags = append(tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(i.tags[k])})
			}
			if _, err := s.kec2.CreateTags(c.r.Context(), &ec2.CreateTagsInput{Resources: []string{id}, Tags: tags}); err != nil {
				return sdkError(queryProtocol, err)
			}
		}
		s.instances[id] = i
		if token != "" {
			s.tokens[token] = id
		}
	}
	i := s.instances[id]
	type runInstancesResponse struct {
		XMLName       xml.Name      `xml:"RunInstancesResponse"`
		NS            string        `xml:"xmlns,attr"`
		RequestID     string        `xml:"requestId"`
		ReservationID string        `xml:"reservationId"`
		OwnerID       string        `xml:"ownerId"`
		Instances     []xmlInstance `xml:"instancesSet>item"`
	}
	return xmlReply(runInstancesResponse{
		NS: ec2NS, RequestID: "awssim", ReservationID: i.reservation, OwnerID: "000000000000",
		Instances: []xmlInstance{s.xmlInstance(i, c.now)},
	})
}

// describeInstances lists kumo's instances with the front's states and
// tags, and applies the filters kumo ignores (tag:<key>, tag-key,
// instance-state-name, instance-id).
func (s *Server) describeInstances(c *call) reply {
	ids := indexed(c.form, "InstanceId")
	for _, id := range ids {
		if i, ok := s.instances[id]; ok && !s.visible(i, c.now) {
			return instanceNotFound(id)
		}
	}
	filters := map[string][]string{}
	for n := 1; ; n++ {
		name, ok := c.form[fmt.Sprintf("Filter.%d.Name", n)]
		if !ok {
			break
		}
		filters[name[0]] = indexed(c.form, fmt.Sprintf("Filter.%d.Value", n))
	}
	for name := range filters {
		switch {
		case strings.HasPrefix(name, "tag:"), name == "tag-key", name == "instance-state-name", name == "instance-id":
		default:
			return clientError(queryProtocol, "InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", name))
		}
	}
	out, err := s.kec2.DescribeInstances(c.r.Context(), &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		return sdkError(queryProtocol, err)
	}
	var res []xmlReservation
	for _, r := range out.Reservations {
		xr := xmlReservation{ReservationID: aws.ToString(r.ReservationId), OwnerID: aws.ToString(r.OwnerId)}
		for _, ki := range r.Instances {
			i, ok := s.instances[aws.ToString(ki.InstanceId)]
			if ok && !s.visible(i, c.now) {
				continue
			}
			if !ok {
				// Not started through this front (kumo's state is shared
				// by the whole process): kumo's account, and its tags.
				i = s.foreign(c, ki)
			}
			x := s.xmlInstance(i, c.now)
			if match(x, filters) {
				xr.Instances = append(xr.Instances, x)
			}
		}
		if len(xr.Instances) > 0 {
			res = append(res, xr)
		}
	}
	type describeInstancesResponse struct {
		XMLName      xml.Name         `xml:"DescribeInstancesResponse"`
		NS           string           `xml:"xmlns,attr"`
		RequestID    string           `xml:"requestId"`
		Reservations []xmlReservation `xml:"reservationSet>item"`
	}
	return xmlReply(describeInstancesResponse{NS: ec2NS, RequestID: "awssim", Reservations: res})
}

// foreign is a stand-in record for an instance kumo holds but this front
// did not start.
func (s *Server) foreign(c *call, ki ec2types.Instance) *instance {
	i := &instance{
		id:           aws.ToString(ki.InstanceId),
		image:        aws.ToString(ki.ImageId),
		instanceType: string(ki.InstanceType),
		launched:     c.now,
		tags:         map[string]string{},
	}
	if s.o.Latencies.InstanceBoot < Never {
		i.launched = c.now.Add(-s.o.Latencies.InstanceBoot)
	}
	if ki.State != nil && ki.State.Name == ec2types.InstanceStateNameTerminated {
		i.terminating = c.now.Add(-s.o.Latencies.Terminate)
	}
	if tags, err := s.kec2.DescribeTags(c.r.Context(), &ec2.DescribeTagsInput{
		Filters: []ec2types.Filter{{Name: aws.String("resource-id"), Values: []string{i.id}}},
	}); err == nil {
		for _, t := range tags.Tags {
			i.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return i
}

// lookup finds an instance: the front's record, or kumo's (then recorded).
func (s *Server) lookup(c *call, id string) (*instance, bool) {
	if i, ok := s.instances[id]; ok {
		return i, true
	}
	out, err := s.kec2.DescribeInstances(c.r.Context(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(out.Reservations) == 0 || len(out.Reservations[0].Instances) == 0 {
		return nil, false
	}
	i := s.foreign(c, out.Reservations[0].Instances[0])
	s.instances[id] = i
	return i, true
}

func match(x xmlInstance, filters map[string][]string) bool {
	tag := func(k string) (string, bool) {
		for _, t := range x.Tags {
			if t.Key == k {
				return t.Value, true
			}
		}
		return "", false
	}
	for name, values := range filters {
		switch {
		case name == "instance-state-name":
			if !slices.Contains(values, x.State.Name) {
				return false
			}
		case name == "instance-id":
			if !slices.Contains(values, x.InstanceID) {
				return false
			}
		case name == "tag-key":
			found := false
			for _, v := range values {
				if _, ok := tag(v); ok {
					found = true
				}
			}
			if !found {
				return false
			}
		case strings.HasPrefix(name, "tag:"):
			v, ok := tag(strings.TrimPrefix(name, "tag:"))
			if !ok || !slices.Contains(values, v) {
				return false
			}
		}
	}
	return true
}

// terminateInstances has kumo terminate them; the front shows them
// shutting down for Latencies.Terminate.
func (s *Server) terminateInstances(c *call) reply {
	ids := indexed(c.form, "InstanceId")
	var changes []xmlStateChange
	for _, id := range ids {
		i, ok := s.lookup(c, id)
		if !ok || !s.visible(i, c.now) {
			return instanceNotFound(id)
		}
		pc, pn := s.state(i, c.now)
		if i.terminating.IsZero() {
			i.terminating = c.now
		}
		cc, cn := s.state(i, c.now)
		changes = append(changes, xmlStateChange{InstanceID: id, Current: xmlState{cc, cn}, Previous: xmlState{pc, pn}})
	}
	if _, err := s.kec2.TerminateInstances(c.r.Context(), &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
		return sdkError(queryProtocol, err)
	}
	type terminateInstancesResponse struct {
		XMLName   xml.Name         `xml:"TerminateInstancesResponse"`
		NS        string           `xml:"xmlns,attr"`
		RequestID string           `xml:"requestId"`
		Changes   []xmlStateChange `xml:"instancesSet>item"`
	}
	return xmlReply(terminateInstancesResponse{NS: ec2NS, RequestID: "awssim", Changes: changes})
}

// rebootInstances (kumo lacks it) reboots running instances: the host
// goes down after Latencies.RebootDown, ECS sees its agent disconnected
// Latencies.DisconnectSeen later (if the agent is still down then), and
// the host is up, with a new boot id and its agent connected, after
// Latencies.Reboot.
func (s *Server) rebootInstances(c *call) reply {
	ids := indexed(c.form, "InstanceId")
	for _, id := range ids {
		i, ok := s.lookup(c, id)
		if !ok || !s.visible(i, c.now) {
			return instanceNotFound(id)
		}
		if _, name := s.state(i, c.now); name != "running" {
			return clientError(queryProtocol, "IncorrectState", fmt.Sprintf("The instance '%s' is not in a state from which it can be rebooted", id))
		}
	}
	for _, id := range ids {
		i := s.instances[id]
		i.rebooted = c.now
		i.reboots = append(i.reboots, c.now)
	}
	type rebootInstancesResponse struct {
		XMLName   xml.Name `xml:"RebootInstancesResponse"`
		NS        string   `xml:"xmlns,attr"`
		RequestID string   `xml:"requestId"`
		Return    bool     `xml:"return"`
	}
	return xmlReply(rebootInstancesResponse{NS: ec2NS, RequestID: "awssim", Return: true})
}

// visible says whether EC2's API shows the instance at now
// (Latencies.InstanceVisible).
func (s *Server) visible(i *instance, now time.Time) bool {
	return reached(i.launched, s.o.Latencies.InstanceVisible, now)
}

func instanceNotFound(id string) reply {
	return clientError(queryProtocol, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", id))
}

// rebooting says whether the instance's host is down for a reboot at now.
func (s *Server) rebooting(i *instance, now time.Time) bool {
	if i.rebooted.IsZero() {
		return false
	}
	return reached(i.rebooted, s.o.Latencies.RebootDown, now) && !reached(i.rebooted, s.o.Latencies.Reboot, now)
}
