package awssim

import (
	"encoding/xml"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// ec2Filter is one Filter.N of an EC2 request. EC2 ANDs the filters and
// ORs each one's values, so two filters of the same name (two tag-key
// filters, say) both apply.
type ec2Filter struct {
	name   string
	values []string
}

// filterList reads Filter.N.Name and Filter.N.Value.M, one entry a filter.
func filterList(form url.Values) []ec2Filter {
	var out []ec2Filter
	for i := 1; ; i++ {
		name := form.Get(fmt.Sprintf("Filter.%d.Name", i))
		if name == "" {
			return out
		}
		f := ec2Filter{name: name}
		for j := 1; ; j++ {
			v, ok := form[fmt.Sprintf("Filter.%d.Value.%d", i, j)]
			if !ok {
				break
			}
			f.values = append(f.values, v...)
		}
		out = append(out, f)
	}
}

// filterError is EC2's answer to a filter it does not know.
func filterError(name string) reply {
	return ec2Error("InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", name))
}

// matchFilters says whether a resource with tags passes every filter:
// tag-key and tag:KEY on its tags, any other name on field(name), whose
// false says the filter is unknown (answered with filterError).
func matchFilters(fs []ec2Filter, tags map[string]string, field func(name string) (string, bool)) (bool, *reply) {
	ok := true
	for _, f := range fs {
		var pass bool
		switch {
		case f.name == "tag-key":
			pass = slices.ContainsFunc(f.values, func(k string) bool { _, has := tags[k]; return has })
		case strings.HasPrefix(f.name, "tag:"):
			v, has := tags[strings.TrimPrefix(f.name, "tag:")]
			pass = has && slices.Contains(f.values, v)
		default:
			v, known := field(f.name)
			if !known {
				rep := filterError(f.name)
				return false, &rep
			}
			pass = slices.Contains(f.values, v)
		}
		ok = ok && pass
	}
	return ok, nil
}

// describeKeyPairs lists the account's key pairs: KeyName.N and
// KeyPairId.N select (one that does not exist is
// InvalidKeyPair.NotFound), filters key-name, key-pair-id, tag-key and
// tag:KEY.
func (s *Server) describeKeyPairs(c *call) reply {
	b := s.buildOf()
	names, ids := indexed(c.form, "KeyName"), indexed(c.form, "KeyPairId")
	for _, n := range names {
		if _, ok := b.keyPairs[n]; !ok {
			return ec2Error("InvalidKeyPair.NotFound", fmt.Sprintf("The key pair '%s' does not exist", n))
		}
	}
	type key struct {
		ID          string   `xml:"keyPairId"`
		Name        string   `xml:"keyName"`
		Fingerprint string   `xml:"keyFingerprint"`
		Type        string   `xml:"keyType"`
		Tags        []xmlTag `xml:"tagSet>item"`
	}
	type out struct {
		XMLName xml.Name `xml:"r"`
		Keys    []key    `xml:"keySet>item"`
	}
	fs := filterList(c.form)
	var o out
	for _, name := range slices.Sorted(maps.Keys(b.keyPairs)) {
		kp := b.keyPairs[name]
		if (len(names) > 0 && !slices.Contains(names, name)) || (len(ids) > 0 && !slices.Contains(ids, kp.id)) {
			continue
		}
		pass, bad := matchFilters(fs, kp.tags, func(f string) (string, bool) {
			switch f {
			case "key-name":
				return kp.name, true
			case "key-pair-id":
				return kp.id, true
			}
			return "", false
		})
		if bad != nil {
			return *bad
		}
		if pass {
			o.Keys = append(o.Keys, key{kp.id, kp.name, kp.fingerprint, "rsa", xmlTags(kp.tags)})
		}
	}
	return ec2Response("DescribeKeyPairsResponse", o)
}

// describeSnapshots lists the snapshots builds made (CreateImage,
// CopyImage): SnapshotId.N selects, OwnerId.N (self or the account)
// keeps the caller's, filters status, volume-id, snapshot-id, tag-key and
// tag:KEY. The catalogue's snapshots are other accounts' and not listed.
func (s *Server) describeSnapshots(c *call) reply {
	b := s.buildOf()
	ids := indexed(c.form, "SnapshotId")
	for _, id := range ids {
		if _, ok := b.snapshots[id]; !ok {
			return ec2Error("InvalidSnapshot.NotFound", fmt.Sprintf("The snapshot '%s' does not exist.", id))
		}
	}
	for _, o := range indexed(c.form, "Owner") {
		if o != "self" && o != Account {
			return ec2Response("DescribeSnapshotsResponse", struct {
				XMLName xml.Name `xml:"r"`
			}{})
		}
	}
	type snap struct {
		ID        string   `xml:"snapshotId"`
		Volume    string   `xml:"volumeId"`
		Status    string   `xml:"status"`
		Start     string   `xml:"startTime"`
		Progress  string   `xml:"progress"`
		Owner     string   `xml:"ownerId"`
		Size      int      `xml:"volumeSize"`
		Encrypted bool     `xml:"encrypted"`
		Tags      []xmlTag `xml:"tagSet>item"`
	}
	type out struct {
		XMLName   xml.Name `xml:"r"`
		Snapshots []snap   `xml:"snapshotSet>item"`
	}
	fs := filterList(c.form)
	var o out
	for _, id := range slices.Sorted(maps.Keys(b.snapshots)) {
		sn := b.snapshots[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		pass, bad := matchFilters(fs, sn.tags, func(f string) (string, bool) {
			switch f {
			case "status":
				return "completed", true
			case "volume-id":
				return sn.volume, true
			case "snapshot-id":
				return sn.id, true
			}
			return "", false
		})
		if bad != nil {
			return *bad
		}
		if pass {
			o.Snapshots = append(o.Snapshots, snap{sn.id, sn.volume, "completed", iso(sn.created), "100%", Account, sn.size, sn.encrypted, xmlTags(sn.tags)})
		}
	}
	return ec2Response("DescribeSnapshotsResponse", o)
}
