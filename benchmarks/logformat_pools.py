"""Event pools for the generated log formats (``benchmarks.logformats``).

Each event is ``(level, context, template)``: ``context`` is what the format puts around the
message (a syslog program, a Python logger, a Go caller, a Windows source and event id...)
and ``template`` is the message with ``{kind}`` where a value goes (``VALUES`` draws one).
Ground truth replaces every ``{kind}`` by ``<*>``, as Loghub's labels mark variables.

Written from the formats' documentation and common daemons' messages, not from any Loghub
file: sshd, CRON, systemd, sudo, postfix, haproxy, OpenStack-style services, Python web
workers, Go and Java services, nginx routes, the Windows Service Control Manager and
security auditing, macOS daemons.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

Rand = random.Random

USERS = ["alice", "bob", "root", "deploy", "postgres", "www-data", "jenkins", "svc_backup", "mia"]
SERVICES = ["nginx", "redis-server", "postgresql", "docker", "cron", "ssh", "chronyd", "rsyslog"]
WORDS = ["timeout", "refused", "reset", "unreachable", "denied", "busy", "closed", "expired"]
TEXTS = [
    "disk quota exceeded",
    "invalid token",
    "upstream closed the connection",
    "no such file",
    "deadline exceeded",
    "permission denied",
]


def _hex(r: Rand, n: int) -> str:
    return "".join(r.choice("0123456789abcdef") for _ in range(n))


def _ip(r: Rand) -> str:
    return f"{r.choice([10, 172, 192, 81])}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def _path(r: Rand) -> str:
    parts = r.choice(
        ["/var/lib/app", "/srv/data", "/home/" + r.choice(USERS), "/var/tmp", "/opt/app/run"]  # noqa: S108
    )
    return f"{parts}/{r.choice(['cache', 'upload', 'state', 'spool'])}/{_hex(r, 6)}.{r.choice(['json', 'dat', 'tmp'])}"


def _dur(r: Rand) -> str:
    return r.choice(
        [f"{r.randint(1, 999)}ms", f"{r.uniform(0.1, 30):.3f}s", f"{r.randint(1, 60)}s"]
    )


VALUES: dict[str, Callable[[Rand], str]] = {
    "ip": _ip,
    "port": lambda r: str(r.randint(1024, 65535)),
    "num": lambda r: str(r.choice([r.randint(0, 9), r.randint(10, 999), r.randint(1000, 99999)])),
    "big": lambda r: str(r.randint(10**6, 10**10)),
    "pid": lambda r: str(r.randint(100, 65000)),
    "user": lambda r: r.choice(USERS),
    "host": lambda r: (
        f"{r.choice(['web', 'db', 'cache', 'worker'])}-{r.randint(1, 40):02d}"
        + r.choice(["", ".internal", ".prod.example.net"])
    ),
    "path": _path,
    "hex": lambda r: "0x" + _hex(r, r.choice([4, 8, 12])),
    "sha": lambda r: _hex(r, 40),
    "uuid": lambda r: f"{_hex(r, 8)}-{_hex(r, 4)}-4{_hex(r, 3)}-a{_hex(r, 3)}-{_hex(r, 12)}",
    "dur": _dur,
    "size": lambda r: f"{r.randint(1, 900)}{r.choice(['KB', 'MB', 'GB', ' bytes'])}",
    "float": lambda r: f"{r.uniform(0, 100):.2f}",
    "quoted": lambda r: '"' + r.choice(TEXTS) + '"',
    "email": lambda r: f"{r.choice(USERS)}@{r.choice(['example.com', 'mail.example.org'])}",
    "url": lambda r: (
        f"https://{r.choice(['api', 'auth', 'cdn'])}.example.com/v{r.randint(1, 3)}/"
        + r.choice(["items", "users", "tokens"])
        + f"/{r.randint(1, 9999)}"
    ),
    "mac": lambda r: ":".join(_hex(r, 2) for _ in range(6)),
    "ver": lambda r: f"{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 40)}",
    "service": lambda r: r.choice(SERVICES),
    "word": lambda r: r.choice(WORDS),
    "id": lambda r: "".join(r.choice(string.ascii_lowercase + string.digits) for _ in range(10)),
    "key": lambda r: f"{r.choice(['user', 'session', 'cart', 'rate'])}:{r.randint(1, 10**6)}",
}

Event = tuple[str, str, str]

LINUX: list[Event] = [
    ("INFO", "sshd", "Accepted publickey for {user} from {ip} port {port} ssh2: RSA SHA256:{sha}"),
    ("INFO", "sshd", "Accepted password for {user} from {ip} port {port} ssh2"),
    ("WARN", "sshd", "Failed password for invalid user {user} from {ip} port {port} ssh2"),
    ("WARN", "sshd", "Failed password for {user} from {ip} port {port} ssh2"),
    ("INFO", "sshd", "Received disconnect from {ip} port {port}:11: disconnected by user"),
    ("INFO", "sshd", "Disconnected from user {user} {ip} port {port}"),
    ("INFO", "sshd", "pam_unix(sshd:session): session opened for user {user} by (uid={num})"),
    ("INFO", "sshd", "pam_unix(sshd:session): session closed for user {user}"),
    ("WARN", "sshd", "Connection closed by authenticating user {user} {ip} port {port} [preauth]"),
    ("INFO", "CRON", "({user}) CMD ({path} --quiet)"),
    ("INFO", "CRON", "pam_unix(cron:session): session opened for user {user} by (uid={num})"),
    ("INFO", "systemd", "Started Session {num} of user {user}."),
    ("INFO", "systemd", "Starting {service}.service..."),
    ("INFO", "systemd", "{service}.service: Succeeded."),
    (
        "WARN",
        "systemd",
        "{service}.service: Main process exited, code=exited, status={num}/FAILURE",
    ),
    ("INFO", "systemd", "Reloading."),
    ("INFO", "sudo", "{user} : TTY=pts/{num} ; PWD={path} ; USER=root ; COMMAND={path}"),
    ("INFO", "kernel", "usb {num}-{num}: new high-speed USB device number {num} using xhci_hcd"),
    ("WARN", "kernel", "Out of memory: Killed process {pid} (java) total-vm:{num}kB"),
    ("INFO", "kernel", "eth0: Link is Up - 1Gbps/Full - flow control rx/tx"),
    (
        "WARN",
        "kernel",
        "TCP: request_sock_TCP: Possible SYN flooding on port {port}. Sending cookies.",
    ),
    ("INFO", "dhclient", "DHCPACK of {ip} from {ip}"),
    ("INFO", "dhclient", "bound to {ip} -- renewal in {num} seconds."),
]

MAIL_NET: list[Event] = [
    ("INFO", "postfix/smtpd", "connect from {host}[{ip}]"),
    ("INFO", "postfix/smtpd", "disconnect from {host}[{ip}] ehlo=1 mail=1 rcpt=1 data=1 quit=1"),
    ("WARN", "postfix/smtpd", "lost connection after AUTH from unknown[{ip}]"),
    ("INFO", "postfix/qmgr", "{hex}: from=<{email}>, size={num}, nrcpt=1 (queue active)"),
    (
        "INFO",
        "postfix/smtp",
        "{hex}: to=<{email}>, relay={host}[{ip}]:25, delay={float}, status=sent (250 OK)",
    ),
    (
        "WARN",
        "postfix/smtp",
        "{hex}: to=<{email}>, relay=none, delay={float}, status=deferred (connection timed out)",
    ),
    ("INFO", "postfix/cleanup", "{hex}: message-id=<{id}@{host}>"),
    ("INFO", "haproxy", "Proxy {service} started."),
    (
        "WARN",
        "haproxy",
        "Server backend/{host} is DOWN, reason: Layer4 timeout, check duration: {dur}.",
    ),
    (
        "INFO",
        "haproxy",
        "Server backend/{host} is UP, reason: Layer7 check passed, code: 200, check duration: {dur}.",
    ),
    ("WARN", "haproxy", "backend backend has no server available!"),
    ("INFO", "ntpd", "adjusting local clock by {float}s"),
    ("INFO", "ntpd", "Listen normally on {num} eth0 {ip}:123"),
    ("ERROR", "named", "client @{hex} {ip}#{port} ({host}): query (cache) denied"),
    ("INFO", "named", "zone {host}/IN: loaded serial {big}"),
    ("INFO", "dnsmasq", "query[A] {host} from {ip}"),
]

CLOUD: list[Event] = [
    (
        "INFO",
        "nova.compute.manager",
        "[instance: {uuid}] Took {float} seconds to spawn the instance on the hypervisor.",
    ),
    ("INFO", "nova.compute.manager", "[instance: {uuid}] Terminating instance"),
    ("INFO", "nova.compute.manager", "[instance: {uuid}] VM Stopped (Lifecycle Event)"),
    ("INFO", "nova.compute.claims", "[instance: {uuid}] Total memory: {num} MB, used: {float} MB"),
    ("INFO", "nova.compute.claims", "[instance: {uuid}] Claim successful on node {host}"),
    (
        "INFO",
        "nova.osapi_compute.wsgi.server",
        '{ip} "GET /v2/{hex}/servers/detail HTTP/1.1" status: 200 len: {num} time: {float}',
    ),
    (
        "INFO",
        "nova.osapi_compute.wsgi.server",
        '{ip} "POST /v2/{hex}/os-server-external-events HTTP/1.1" status: 200 len: {num} time: {float}',
    ),
    ("WARN", "nova.virt.libvirt.imagecache", "Unknown base file: {path}"),
    ("INFO", "nova.virt.libvirt.imagecache", "Removable base files: {path}"),
    ("INFO", "nova.scheduler.host_manager", "Successfully synced instances from host '{host}'."),
    ("ERROR", "neutron.agent.dhcp.agent", "Unable to reload_allocations dhcp for {uuid}."),
    (
        "INFO",
        "neutron.wsgi",
        '{ip} - - [{num}] "GET /v2.0/ports.json?device_id={uuid} HTTP/1.1" 200 {num} {float}',
    ),
    ("INFO", "keystone.token.provider", "Token {hex} issued for user {user} in project {hex}"),
    (
        "WARN",
        "oslo.messaging._drivers.impl_rabbit",
        "AMQP server on {ip}:5672 is unreachable: timed out. Trying again in {num} seconds.",
    ),
    ("INFO", "cinder.volume.manager", "Created volume {uuid} with size {num} GB"),
    (
        "ERROR",
        "cinder.volume.manager",
        "Failed to attach volume {uuid} to instance {uuid}: {quoted}",
    ),
    ("INFO", "glance.api.v2.images", "Image {uuid} uploaded by {user}, {size}"),
    (
        "INFO",
        "nova.compute.resource_tracker",
        "Final resource view: name={host} phys_ram={num}MB used_ram={num}MB phys_disk={num}GB used_disk={num}GB total_vcpus={num} used_vcpus={num}",
    ),
]

WEBAPP: list[Event] = [
    ("INFO", "app.worker", "Task tasks.send_email[{uuid}] received"),
    ("INFO", "app.worker", "Task tasks.send_email[{uuid}] succeeded in {float}s: None"),
    ("ERROR", "app.worker", "Task tasks.resize_image[{uuid}] raised unexpected: OSError({quoted})"),
    ("WARN", "app.worker", "Retrying task tasks.sync_account[{uuid}] in {num}s"),
    ("INFO", "app.views", "user {user} logged in from {ip}"),
    ("INFO", "app.views", "user {user} logged out"),
    ("WARN", "app.views", "login failed for {email}: bad password ({num} attempts)"),
    ("INFO", "app.orders", "order {num} created for customer {num} total {float} EUR"),
    ("INFO", "app.orders", "order {num} shipped to {quoted} via {word}"),
    ("ERROR", "app.payments", "charge {id} declined by gateway: {quoted}"),
    ("INFO", "app.payments", "refund {id} issued, amount {float}"),
    ("INFO", "app.cache", "cache miss for {key} after {dur}"),
    ("INFO", "app.cache", "evicted {num} keys from {host}"),
    ("WARN", "app.db", "slow query took {dur}: SELECT * FROM orders WHERE id = {num}"),
    ("ERROR", "app.db", "connection to {host}:5432 lost, reconnecting in {num} s"),
    ("INFO", "app.storage", "uploaded {path} ({size}) to bucket media"),
    ("INFO", "app.http", "GET {url} -> {num} in {dur}"),
    ("WARN", "app.http", "retry {num}/5 for {url}: {word}"),
    ("INFO", "app.main", "worker {num} booted (pid {pid})"),
    ("INFO", "app.main", "configuration reloaded from {path}"),
]

DEVICE: list[Event] = [
    ("INFO", "StepCounter", "onSensorChanged steps={num} total={big}"),
    ("INFO", "StepCounter", "flush {num} samples to store"),
    ("INFO", "BatteryMonitor", "battery level {num} percent, charging={word}"),
    ("WARN", "BatteryMonitor", "temperature {float} C above threshold"),
    ("INFO", "SyncService", "sync started for account {email}"),
    ("INFO", "SyncService", "sync finished: {num} items up, {num} down in {dur}"),
    ("ERROR", "SyncService", "sync failed with code {num}: {quoted}"),
    ("INFO", "Screen", "screen on, brightness {num}"),
    ("INFO", "Screen", "screen off after {dur}"),
    ("INFO", "Location", "fix acquired lat={float} lon={float} acc={float}"),
    ("WARN", "Location", "no fix after {dur}, provider gps"),
    ("INFO", "Notification", "posted notification id={num} channel=reminders"),
    ("INFO", "Notification", "cancelled notification id={num}"),
    ("INFO", "Alarm", "set alarm {num} at {big}"),
    ("INFO", "Net", "wifi connected to {mac} rssi=-{num}"),
    ("WARN", "Net", "wifi disconnected reason={num}"),
]

GO_SERVICE: list[Event] = [
    ("info", "server/http.go:{num}", "listening on {ip}:{port}"),
    ("info", "server/http.go:{num}", "request completed"),
    ("warn", "server/http.go:{num}", "request timed out after {dur}"),
    (
        "error",
        "store/postgres.go:{num}",
        "query failed: pq: duplicate key value violates unique constraint {quoted}",
    ),
    ("info", "store/postgres.go:{num}", "migrated schema to version {num}"),
    ("info", "store/cache.go:{num}", "cache warmed with {num} entries in {dur}"),
    ("warn", "store/cache.go:{num}", "cache eviction storm: {num} keys"),
    ("info", "queue/consumer.go:{num}", "consumer {id} joined group orders"),
    ("info", "queue/consumer.go:{num}", "committed offset {big} for partition {num}"),
    ("error", "queue/consumer.go:{num}", "rebalance failed: {word}"),
    ("info", "auth/jwt.go:{num}", "token issued for {user}"),
    ("warn", "auth/jwt.go:{num}", "token for {user} expired {dur} ago"),
    ("info", "main.go:{num}", "starting service version {ver}"),
    ("info", "main.go:{num}", "shutting down"),
    ("error", "upstream/client.go:{num}", "dial tcp {ip}:{port}: connect: connection refused"),
    ("info", "upstream/client.go:{num}", "circuit breaker for {host} is now open"),
    ("info", "upstream/client.go:{num}", "circuit breaker for {host} is now closed"),
    ("info", "gc/metrics.go:{num}", "gc pause {dur}, heap {size}"),
]

JAVA: list[Event] = [
    (
        "INFO",
        "o.s.b.w.embedded.tomcat.TomcatWebServer",
        "Tomcat started on port(s): {port} (http) with context path ''",
    ),
    ("INFO", "c.e.shop.OrderService", "Order {num} placed by customer {num} with {num} items"),
    ("INFO", "c.e.shop.OrderService", "Order {num} cancelled by {user}"),
    ("WARN", "c.e.shop.InventoryClient", "Stock lookup for SKU {id} took {dur}"),
    ("ERROR", "c.e.shop.PaymentGateway", "Payment {uuid} failed: HTTP {num} from {url}"),
    ("INFO", "c.e.shop.PaymentGateway", "Payment {uuid} captured"),
    ("INFO", "com.zaxxer.hikari.HikariDataSource", "HikariPool-{num} - Start completed."),
    (
        "WARN",
        "com.zaxxer.hikari.pool.HikariPool",
        "HikariPool-{num} - Connection is not available, request timed out after {num}ms.",
    ),
    (
        "INFO",
        "o.h.e.t.j.p.i.JtaPlatformInitiator",
        "HHH000490: Using JtaPlatform implementation: [org.hibernate.engine.transaction.jta.platform.internal.NoJtaPlatform]",
    ),
    ("INFO", "c.e.shop.web.RequestLogger", "GET /api/products/{num} completed in {num} ms"),
    ("INFO", "c.e.shop.web.RequestLogger", "POST /api/cart/{uuid}/items completed in {num} ms"),
    ("WARN", "c.e.shop.security.LoginFilter", "Rejected login for {email} from {ip}"),
    ("INFO", "c.e.shop.scheduler.ReportJob", "Nightly report generated: {num} rows, {size}"),
    ("ERROR", "c.e.shop.mail.Mailer", "Could not send mail to {email}: {quoted}"),
    (
        "INFO",
        "o.a.k.clients.consumer.KafkaConsumer",
        "[Consumer clientId=consumer-{num}, groupId=shop] Subscribed to topic(s): orders",
    ),
    (
        "INFO",
        "o.a.k.c.c.internals.ConsumerCoordinator",
        "[Consumer clientId=consumer-{num}, groupId=shop] Setting offset for partition orders-{num} to the committed offset FetchPosition(offset={num})",
    ),
]

WINDOWS: list[Event] = [
    (
        "Information",
        "Service Control Manager|7036",
        "The {service} service entered the running state.",
    ),
    (
        "Information",
        "Service Control Manager|7036",
        "The {service} service entered the stopped state.",
    ),
    (
        "Information",
        "Service Control Manager|7040",
        "The start type of the {service} service was changed from demand start to auto start.",
    ),
    (
        "Error",
        "Service Control Manager|7031",
        "The {service} service terminated unexpectedly. It has done this {num} time(s).",
    ),
    (
        "Information",
        "Microsoft-Windows-Security-Auditing|4624",
        "An account was successfully logged on. Account Name: {user} Logon Type: {num} Source Network Address: {ip}",
    ),
    (
        "Information",
        "Microsoft-Windows-Security-Auditing|4634",
        "An account was logged off. Account Name: {user} Logon ID: {hex}",
    ),
    (
        "Warning",
        "Microsoft-Windows-Security-Auditing|4625",
        "An account failed to log on. Account Name: {user} Failure Reason: Unknown user name or bad password. Source Network Address: {ip}",
    ),
    (
        "Information",
        "Microsoft-Windows-Kernel-General|1",
        "The system time has changed to {num} from {num}.",
    ),
    (
        "Warning",
        "Microsoft-Windows-Time-Service|129",
        "NtpClient was unable to set a domain peer to use as a time source because of discovery error. NtpClient will try again in {num} minutes.",
    ),
    (
        "Information",
        "Microsoft-Windows-WindowsUpdateClient|19",
        "Installation Successful: Windows successfully installed the following update: KB{big}",
    ),
    (
        "Error",
        "Application Error|1000",
        "Faulting application name: {id}.exe, version: {ver}, faulting module name: ntdll.dll, exception code: {hex}",
    ),
    (
        "Information",
        "Microsoft-Windows-Winlogon|7001",
        "User Logon Notification for Customer Experience Improvement Program",
    ),
    (
        "Warning",
        "disk|153",
        "The IO operation at logical block address {hex} for Disk {num} was retried.",
    ),
    ("Information", "EventLog|6013", "The system uptime is {big} seconds."),
]

MACOS: list[Event] = [
    (
        "Default",
        "kernel",
        "(AppleACPIPlatform) AppleACPICPU: ProcessorId={num} LocalApicId={num} Enabled",
    ),
    (
        "Default",
        "kernel",
        "IOThunderboltSwitch<{hex}>({hex})::listenerCallback - Thunderbolt HPD packet for route = {hex} port = {num} unplug = {num}",
    ),
    ("Default", "powerd", 'Process {id} [{pid}] TurnedOn UserIsActive "Display is turned on"'),
    ("Default", "powerd", "Sleep: Using AC (Charge:{num}%)"),
    ("Info", "mDNSResponder", "[R{num}] DNSServiceQueryRecord({host}, A) START PID[{pid}](Safari)"),
    ("Info", "mDNSResponder", "[R{num}] DNSServiceQueryRecord({host}, A) STOP PID[{pid}](Safari)"),
    (
        "Error",
        "com.apple.WebKit.Networking",
        "Task <{uuid}>.<{num}> finished with error [-1001] Error Domain=NSURLErrorDomain Code=-1001",
    ),
    ("Default", "cloudd", "Scheduling activity com.apple.cloudkit.sync for {num} seconds from now"),
    ("Default", "bluetoothd", "Device connected {mac} reason {num}"),
    ("Default", "bluetoothd", "Device disconnected {mac}"),
    ("Error", "sandboxd", "Sandbox: {id}({pid}) deny(1) file-read-data {path}"),
    (
        "Default",
        "loginwindow",
        "-[SessionAgentNotificationCenter sendDistributedNotification:withUserInfo:] | sending distributed notification: com.apple.screenIsLocked",
    ),
    ("Default", "WindowServer", "Display {big} is now {word}"),
    ("Info", "locationd", "Location icon should now be {word} for client {id}"),
]

ROUTES: list[Event] = [
    ("GET", "200", "/"),
    ("GET", "200", "/static/css/app.{hex}.css"),
    ("GET", "200", "/static/js/main.{hex}.js"),
    ("GET", "200", "/api/v1/products/{num}"),
    ("GET", "200", "/api/v1/products?page={num}"),
    ("POST", "201", "/api/v1/orders"),
    ("GET", "200", "/api/v1/orders/{num}"),
    ("DELETE", "204", "/api/v1/cart/items/{num}"),
    ("POST", "200", "/login"),
    ("GET", "404", "/wp-login.php"),
    ("GET", "304", "/favicon.ico"),
    ("GET", "200", "/healthz"),
    ("POST", "502", "/api/v1/payments"),
    ("GET", "301", "/blog/{id}"),
    ("PUT", "200", "/api/v1/users/{num}/avatar"),
]
