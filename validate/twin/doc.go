// Package twin builds a CIS-hardened Amazon ECS container instance out of
// Linux network namespaces and real netfilter, so that a fix for the
// hardened firewall can be proven offline, without an EC2 instance.
//
// A Twin is five namespaces wired as on an ECS host:
//
//	VPC ns: bridge "subnet" 192.0.2.1/24 (the VPC gateway), route 169.254.170.2/32 via 192.0.2.10,
//	        a service on 192.0.2.1:8080, IMDS (IMDSv2) on 169.254.169.254:80
//	   | eth0                                           | eni-awsvpc (the task's ENI)
//	host ns: eth0 192.0.2.10/24 (default via 192.0.2.1), lo  |
//	         ecs-bridge 169.254.172.1/22 -- veth<8 hex> -- awsvpc task ns: ecs-eth0 169.254.172.2 (MAC 0a:58:a9:fe:ac:02),
//	                                                           169.254.170.2/32 and 169.254.172.1/32 via 169.254.172.1;
//	                                                         eth0 192.0.2.20/24, default via 192.0.2.1
//	         docker0 172.17.0.1/16 -- veth-bridge -- bridge task ns: eth0 172.17.0.2/16, default via 172.17.0.1
//	         stand-in ECS agent on 127.0.0.1:51679 (credentials, task metadata v4)
//	         and 0.0.0.0:51678 (introspection), another host service on 0.0.0.0:9100
//
// The host reaches IMDS through eth0; a bridge task through the host,
// which forwards it out of docker0 and masquerades it (Docker's rules), one
// routed hop that the IMDS PUT response hop limit (Options.IMDSHopLimit)
// counts; an awsvpc task through its ENI, unless ecs.config sets
// ECS_AWSVPC_BLOCK_IMDS=true: its namespace then has blackhole routes for
// 169.254.169.254/32 and, with IPv6, fd00:ec2::254/128, as the agent's
// vpc-eni plugin adds them.
//
// The host also has its own mount namespace, held by a long-lived process,
// in which /etc, /var, /root, /home and /usr are overlays whose upper
// directories are the twin's disk, /tmp and /run are private tmpfs, /sys
// shows the host namespace's devices and /proc/sys is writable for the
// host namespace's network settings only (every other sysctl is a
// snapshot that changes nothing). Commands the twin runs, and commands
// run with Exec, never touch the real machine's netfilter, sysctls or /etc.
//
// Booting (New, Reboot) replays what a hardened ECS host does at boot: the
// OS service restores the saved firewall with the baseline's backend,
// systemd-sysctl applies the sysctl files, dockerd starts (ip_forward=1 and
// its chains), systemd-sysctl applies the files again (moby/moby#47966),
// ecs-init adds its rules without checking for them before the agent
// starts, and the agent starts the first awsvpc task: its CNI plugins
// (vpc-eni, ecs-bridge, ecs-ipam) attach the task's ENI and create
// ecs-bridge then, after the firewall loaded, as on a real host. The disk
// survives a reboot; the namespaces and live rules do not.
//
// Probes (Credentials, Metadata, Connect) open their sockets inside the
// namespace they start from, so they see exactly what a task would.
package twin
