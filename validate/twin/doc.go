// Package twin builds a CIS-hardened Amazon ECS container instance out of
// Linux network namespaces and real netfilter, so that a fix for the
// hardened firewall can be proven offline, without an EC2 instance.
//
// A Twin is five namespaces wired as on an ECS host:
//
//	VPC ns (eth0 192.0.2.1/24, route 169.254.170.2/32 via 192.0.2.10, service on 192.0.2.1:8080)
//	     |
//	host ns: eth0 192.0.2.10/24 (default via 192.0.2.1), lo,
//	         ecs-bridge 169.254.172.1/22 -- veth -- awsvpc task ns: ecs-eth0 169.254.172.2/22,
//	                                                 route 169.254.170.2/32 via 169.254.172.1
//	         docker0 172.17.0.1/16       -- veth -- bridge task ns: eth0 172.17.0.2/16, default via 172.17.0.1
//	         stand-in ECS agent on 127.0.0.1:51679 (credentials, task metadata v4)
//	         and 0.0.0.0:51678 (introspection), another host service on 0.0.0.0:9100
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
// and ecs-init adds its rules without checking for them before the agent
// starts. The disk survives a reboot; the namespaces and live rules do not.
//
// Probes (Credentials, Metadata, Connect) open their sockets inside the
// namespace they start from, so they see exactly what a task would.
package twin
