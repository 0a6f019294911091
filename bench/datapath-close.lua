-- bench/datapath.mjs: one connection per request (wrk reconnects after each response).
wrk.headers["Connection"] = "close"
