"""Event pools of the unseen generated formats (``benchmarks.logformat_unseen``).

Same shape as ``logformat_pools``: ``(level, context, template)`` with ``{kind}`` where a
value goes. Written from the daemons' and libraries' own messages (HAProxy, Apache httpd 2.4,
MySQL 8, MongoDB 4.4+, Kafka, Celery, gunicorn, Rails, Fastify/pino), not from any Loghub
file and not from the miner. Two lines of one event share a label; events never do.
"""

from __future__ import annotations

from benchmarks.logformat_pools import Event

# context: "http" lines are access-log lines (the request line is the labelled message, as in
# ``logformats.AccessLog``); "admin" lines are HAProxy's own notices in the same file.
HAPROXY: list[Event] = [
    ("200", "http", "GET /api/v1/products/{num} HTTP/1.1"),
    ("200", "http", "GET /api/v1/products?page={num}&per_page=50 HTTP/1.1"),
    ("201", "http", "POST /api/v1/cart/items HTTP/1.1"),
    ("200", "http", "GET /static/js/app.{id}.js HTTP/1.1"),
    ("200", "http", "GET /healthz HTTP/1.1"),
    ("302", "http", "POST /api/v1/orders/{num}/checkout HTTP/1.1"),
    ("204", "http", "DELETE /api/v1/sessions/{uuid} HTTP/1.1"),
    ("200", "http", "GET /images/{id}.webp HTTP/1.1"),
    (
        "alert",
        "admin",
        'Server be_api/api-{num} is DOWN, reason: Layer4 connection problem, info: "Connection refused", check duration: {num}ms. {num} active and 0 backup servers left. {num} sessions active, 0 requeued, 0 remaining in queue.',
    ),
    (
        "warning",
        "admin",
        "Server be_api/api-{num} is DOWN, reason: Layer7 timeout, check duration: {num}ms. {num} active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
    ),
    (
        "notice",
        "admin",
        "Server be_api/api-{num} is UP, reason: Layer7 check passed, code: 200, check duration: {num}ms. {num} active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
    ),
    ("emerg", "admin", "backend be_static has no server available!"),
    ("notice", "admin", "Proxy fe_https started."),
    ("notice", "admin", "Stopping frontend fe_https in 0 ms."),
]

# context: "module|c" (the ``[client ip:port]`` field is present) or "module|".
APACHE24: list[Event] = [
    ("error", "core|c", "AH00128: File does not exist: /var/www/html/{id}.php"),
    (
        "error",
        "authz_core|c",
        "AH01630: client denied by server configuration: /srv/www/private/{id}",
    ),
    (
        "notice",
        "mpm_event|",
        "AH00489: Apache/2.4.58 (Ubuntu) OpenSSL/3.0.13 configured -- resuming normal operations",
    ),
    ("notice", "core|", "AH00094: Command line: '/usr/sbin/apache2'"),
    ("notice", "mpm_event|", "AH00492: caught SIGWINCH, shutting down gracefully"),
    (
        "error",
        "proxy|c",
        "(111)Connection refused: AH00957: http: attempt to connect to {ip}:{port} (app-{num}.internal) failed",
    ),
    (
        "error",
        "proxy_http|c",
        "AH01102: error reading status line from remote server {host}:{port}",
    ),
    (
        "error",
        "proxy|c",
        "AH00959: ap_proxy_connect_backend disabling worker for ({ip}:{port}) for {num}s",
    ),
    (
        "info",
        "ssl|c",
        "AH01964: Connection to child {num} established (server shop.example.com:443)",
    ),
    (
        "warn",
        "ssl|",
        "AH01909: shop.example.com:443:0 server certificate does NOT include an ID which matches the server name",
    ),
    ("error", "proxy_fcgi|c", "AH01071: Got error 'Primary script unknown'"),
    (
        "error",
        "proxy_fcgi|c",
        "AH01071: Got error 'PHP message: PHP Warning:  Undefined array key \"{id}\" in /var/www/html/{id}.php on line {num}'",
    ),
    (
        "error",
        "core|c",
        "AH00124: Request exceeded the limit of 10 internal redirects due to probable configuration error. Use 'LimitInternalRecursion' to increase the limit if necessary. Use 'LogLevel debug' to get a backtrace.",
    ),
    ("warn", "mpm_event|", "AH00045: child process {pid} still did not exit, sending a SIGTERM"),
]

# context: "error code|subsystem"
MYSQL8: list[Event] = [
    (
        "Warning",
        "MY-010055|Server",
        "IP address '{ip}' could not be resolved: Name or service not known",
    ),
    (
        "Note",
        "MY-010914|Server",
        "Aborted connection {num} to db: 'shop' user: '{user}' host: '{ip}' (Got timeout reading communication packets).",
    ),
    (
        "Warning",
        "MY-013360|Server",
        "Plugin mysql_native_password reported: ''mysql_native_password' is deprecated and will be removed in a future release. Please use caching_sha2_password instead'",
    ),
    (
        "System",
        "MY-010931|Server",
        "/usr/sbin/mysqld: ready for connections. Version: '8.0.36'  socket: '/var/run/mysqld/mysqld.sock'  port: 3306  MySQL Community Server - GPL.",
    ),
    ("System", "MY-010116|Server", "/usr/sbin/mysqld (mysqld 8.0.36) starting as process {pid}"),
    ("Warning", "MY-010068|Server", "CA certificate ca.pem is self signed."),
    ("Note", "MY-010926|Server", "Access denied for user '{user}'@'{ip}' (using password: YES)"),
    ("Note", "MY-011953|InnoDB", "Page cleaner took {num}ms to flush {num} and evict {num} pages"),
    ("ERROR", "MY-012574|InnoDB", "Unable to lock ./ibdata1 error: 11"),
    (
        "ERROR",
        "MY-010584|Repl",
        "Replica SQL for channel '': Worker {num} failed executing transaction 'ANONYMOUS' at source log binlog.{num}, end_log_pos {big}; Could not execute Write_rows event on table shop.orders; Duplicate entry '{num}' for key 'orders.PRIMARY', Error_code: 1062; handler error HA_ERR_FOUND_DUPP_KEY; the event's source log binlog.{num}, end_log_pos {big}, Error_code: MY-001062",
    ),
    ("Note", "MY-010051|Server", "Event Scheduler: scheduler thread started with id {num}"),
    (
        "System",
        "MY-013172|Server",
        "Received SHUTDOWN from user {user}. Shutting down mysqld (Version: 8.0.36).",
    ),
    ("Warning", "MY-010139|Server", "Changed limits: max_open_files: {num} (requested {num})"),
    ("ERROR", "MY-000067|Server", "unknown variable 'query_cache_size=0'."),
]

# context: "component|id|ctx|attr builder" (``logformat_unseen._MONGO_ATTR``); MongoDB's
# ``msg`` is a constant per log id, the values are in ``attr``.
MONGO: list[Event] = [
    ("I", "NETWORK|22943|listener|conn", "Connection accepted"),
    ("I", "NETWORK|22944|conn|conn", "Connection ended"),
    ("I", "NETWORK|51800|conn|meta", "client metadata"),
    ("I", "ACCESS|20250|conn|auth", "Authentication succeeded"),
    ("I", "ACCESS|20249|conn|authfail", "Authentication failed"),
    ("I", "COMMAND|51803|conn|slow", "Slow query"),
    ("I", "STORAGE|22430|WTCheckpointThread|wt", "WiredTiger message"),
    (
        "I",
        "NETWORK|6788700|conn|first",
        "Received first command on ingress connection since session start or auth handshake",
    ),
    (
        "W",
        "CONTROL|22120|initandlisten|none",
        "Access control is not enabled for the database. Read and write access to data and configuration is unrestricted",
    ),
    (
        "I",
        "REPL|21331|OplogApplier-0|none",
        "Transition to primary complete; database writes are now permitted",
    ),
    ("I", "INDEX|20447|conn|index", "Index build: completed"),
    (
        "I",
        "NETWORK|22988|conn|recverr",
        "Error receiving request from client. Ending connection from remote",
    ),
    ("I", "STORAGE|20320|conn|create", "createCollection"),
    ("I", "-|20883|conn|opid", "Interrupted operation as its client disconnected"),
]

# context: the logger, printed in parentheses after the message (``[%d] %p %m (%c)%n``).
KAFKA: list[Event] = [
    (
        "INFO",
        "kafka.server.ReplicaFetcherThread",
        "[ReplicaFetcher replicaId={num}, leaderId={num}, fetcherId=0] Truncating partition orders-{num} with TruncationState(offset={big}, completed=true) due to local high watermark {big}",
    ),
    (
        "INFO",
        "kafka.log.UnifiedLog$",
        "[UnifiedLog partition=orders-{num}, dir=/var/lib/kafka/data] Deleting segment LogSegment(baseOffset={big}, size={big}, lastModifiedTime={big}, largestRecordTimestamp=Some({big})) due to retention time 604800000ms breach based on the largest record timestamp in the segment",
    ),
    (
        "INFO",
        "kafka.log.LocalLog$",
        "[LocalLog partition=orders-{num}, dir=/var/lib/kafka/data] Rolled new log segment at offset {big} in {num} ms.",
    ),
    (
        "INFO",
        "kafka.coordinator.group.GroupCoordinator",
        "[GroupCoordinator {num}]: Preparing to rebalance group checkout-consumers in state PreparingRebalance with old generation {num} (__consumer_offsets-{num}) (reason: Adding new member consumer-checkout-{num}-{uuid} with group instance id None)",
    ),
    (
        "INFO",
        "kafka.coordinator.group.GroupCoordinator",
        "[GroupCoordinator {num}]: Stabilized group checkout-consumers generation {num} (__consumer_offsets-{num}) with {num} members",
    ),
    (
        "INFO",
        "kafka.coordinator.group.GroupCoordinator",
        "[GroupCoordinator {num}]: Assignment received from leader consumer-checkout-{num}-{uuid} for group checkout-consumers for generation {num}. The group has {num} members, 0 of which are static.",
    ),
    (
        "INFO",
        "kafka.coordinator.group.GroupMetadataManager",
        "[GroupMetadataManager brokerId={num}] Removed {num} expired offsets in {num} milliseconds.",
    ),
    (
        "WARN",
        "kafka.network.Processor",
        "[SocketServer listenerType=ZK_BROKER, nodeId={num}] Unexpected error from /{ip} (channelId={ip}:9092-{ip}:{port}-{num}); closing connection",
    ),
    (
        "INFO",
        "kafka.cluster.Partition",
        "[Partition orders-{num} broker={num}] Shrinking ISR from {num},{num},{num} to {num},{num}. Leader: (highWatermark: {big}, endOffset: {big}). Out of sync replicas: (brokerId: {num}, endOffset: {big}).",
    ),
    (
        "INFO",
        "kafka.cluster.Partition",
        "[Partition orders-{num} broker={num}] ISR updated to {num},{num},{num} and version updated to {num}",
    ),
    ("INFO", "kafka.server.KafkaServer", "[KafkaServer id={num}] started"),
    (
        "WARN",
        "org.apache.kafka.clients.NetworkClient",
        "[Controller id={num}, targetBrokerId={num}] Connection to node {num} ({host}/{ip}:9092) could not be established. Broker may not be available.",
    ),
    (
        "INFO",
        "kafka.log.LogCleaner",
        "[kafka-log-cleaner-thread-0]: Log cleaner thread 0 cleaned log __consumer_offsets-{num} (dirty section = [{big}, {big}])",
    ),
    (
        "INFO",
        "kafka.server.epoch.LeaderEpochFileCache",
        "[LeaderEpochCache orders-{num}] New epoch entry EpochEntry(epoch={num}, startOffset={big}). Cache now contains {num} entries.",
    ),
]

# context: "M" (MainProcess) or "W" (a ForkPoolWorker)
CELERY: list[Event] = [
    ("INFO", "M", "Task shop.tasks.send_order_email[{uuid}] received"),
    ("INFO", "W", "Task shop.tasks.send_order_email[{uuid}] succeeded in {float}s: None"),
    ("INFO", "M", "Task shop.tasks.sync_inventory[{uuid}] received"),
    (
        "INFO",
        "W",
        "Task shop.tasks.sync_inventory[{uuid}] succeeded in {float}s: {'updated': {num}}",
    ),
    ("INFO", "M", "Task shop.tasks.charge_card[{uuid}] received"),
    (
        "ERROR",
        "W",
        "Task shop.tasks.charge_card[{uuid}] raised unexpected: TimeoutError('timed out after {num} seconds')",
    ),
    (
        "INFO",
        "W",
        "Task shop.tasks.charge_card[{uuid}] retry: Retry in {num}s: ConnectionResetError(104, 'Connection reset by peer')",
    ),
    (
        "WARNING",
        "M",
        "consumer: Connection to broker lost. Trying to re-establish the connection...",
    ),
    ("INFO", "M", "Connected to redis://{host}:6379/0"),
    ("INFO", "M", "mingle: searching for neighbors"),
    ("INFO", "M", "celery@{host} ready."),
    ("ERROR", "M", "Process 'ForkPoolWorker-{num}' pid:{pid} exited with 'signal 9 (SIGKILL)'"),
    (
        "ERROR",
        "M",
        "consumer: Cannot connect to redis://{host}:6379/0: Error 111 connecting to {host}:6379. Connection refused.",
    ),
    ("WARNING", "W", "Soft time limit ({num}s) exceeded for shop.tasks.build_report[{uuid}]"),
    ("INFO", "M", "Scaling down {num} processes."),
]

# context: "M" (the arbiter's pid) or "W" (a worker's pid) in the header.
GUNICORN: list[Event] = [
    ("INFO", "M", "Starting gunicorn {ver}"),
    ("INFO", "M", "Listening at: http://0.0.0.0:8000 ({pid})"),
    ("INFO", "M", "Using worker: sync"),
    ("INFO", "W", "Booting worker with pid: {pid}"),
    ("CRITICAL", "M", "WORKER TIMEOUT (pid:{pid})"),
    ("ERROR", "M", "Worker (pid:{pid}) was sent SIGKILL! Perhaps out of memory?"),
    ("INFO", "W", "Worker exiting (pid: {pid})"),
    ("INFO", "M", "Handling signal: term"),
    ("INFO", "M", "Handling signal: hup"),
    ("INFO", "M", "Hang up: Master"),
    ("WARNING", "M", "Worker with pid {pid} was terminated due to signal 9"),
    ("INFO", "M", "Shutting down: Master"),
    ("ERROR", "W", "Error handling request /api/v1/orders/{num}"),
    ("INFO", "W", "Autorestarting worker after current request."),
]

RAILS: list[Event] = [
    ("INFO", "", 'Started GET "/products/{num}" for {ip} at {when}'),
    ("INFO", "", 'Started POST "/cart/items" for {ip} at {when}'),
    ("INFO", "", 'Started GET "/orders/{num}" for {ip} at {when}'),
    ("INFO", "", "Processing by ProductsController#show as HTML"),
    ("INFO", "", "Processing by CartItemsController#create as TURBO_STREAM"),
    ("INFO", "", "Processing by OrdersController#show as HTML"),
    ("INFO", "", 'Parameters: {"id"=>"{num}"}'),
    (
        "INFO",
        "",
        'Parameters: {"authenticity_token"=>"[FILTERED]", "cart_item"=>{"product_id"=>"{num}", "quantity"=>"{num}"}}',
    ),
    (
        "INFO",
        "",
        "Completed 200 OK in {num}ms (Views: {float}ms | ActiveRecord: {float}ms | Allocations: {num})",
    ),
    ("INFO", "", "Completed 302 Found in {num}ms (ActiveRecord: {float}ms | Allocations: {num})"),
    (
        "INFO",
        "",
        "Completed 404 Not Found in {num}ms (ActiveRecord: {float}ms | Allocations: {num})",
    ),
    (
        "INFO",
        "",
        "Completed 422 Unprocessable Entity in {num}ms (ActiveRecord: {float}ms | Allocations: {num})",
    ),
    ("INFO", "", "Redirected to https://shop.example.com/cart"),
    ("FATAL", "", "ActiveRecord::RecordNotFound (Couldn't find Product with 'id'={num}):"),
    ("FATAL", "", 'ActionController::RoutingError (No route matches [GET] "/{id}.php"):'),
    ("WARN", "", "Can't verify CSRF token authenticity."),
]

# level: pino's numeric level; context: the objects logged beside ``msg`` (Fastify's defaults).
PINO: list[Event] = [
    ("30", "req", "incoming request"),
    ("30", "res", "request completed"),
    ("30", "", "Server listening at http://{ip}:3000"),
    ("30", "req", "Route GET:/wp-admin/{id}.php not found"),
    ("30", "", "Connected to PostgreSQL at {host}:5432"),
    ("30", "req", "user {num} signed in"),
    ("30", "req", "order {uuid} created for user {num} (total {float} EUR)"),
    ("40", "req", "payment provider responded {num} after {num}ms"),
    ("20", "", "cache miss for product:{num}"),
    ("50", "err", "job {id} failed: {quoted}"),
    ("40", "req", "Rate limit exceeded, retry in {num} seconds"),
    ("50", "err", "request errored"),
    ("40", "", "Slow query ({num} ms): SELECT * FROM orders WHERE customer_id = $1"),
    ("60", "err", "uncaught exception, shutting down"),
]
