"""GET /metrics latency of an idle Evergreen core, against Prometheus 2.42's own /metrics as the
peer (Debian package prometheus), same machine, same run. 300 sequential scrapes, a new
connection each (as Prometheus scrapes).

    /usr/bin/python3 bench/metrics_scrape.py build/apps/evergreen/evergreen
"""
import json, os, subprocess, sys, time, urllib.request, socket, statistics, tempfile
def free():
    s=socket.socket(); s.bind(("127.0.0.1",0)); p=s.getsockname()[1]; s.close(); return p
evg=sys.argv[1]
root=tempfile.mkdtemp(); os.makedirs(root+"/config")
mp=free()
cfg={"coreThing":{"caPath":"root.ca.pem","certPath":"core.cert.pem","keyPath":"core.private.key","thingArn":"arn:aws:iot:us-east-1:123456789012:thing/C","iotHost":"","ggHost":"","keepAlive":600,"ggMqttPort":free(),"ggDaemonPort":free()},
 "runtime":{"maxWorkItemCount":1024,"maxConcurrentLimit":25},"managedRespawn":False,
 "evergreen":{"mqtt":{"plaintextPort":free(),"bindAddress":"127.0.0.1"},"log":{"stderr":False},"metrics":{"port":mp}}}
json.dump(cfg,open(root+"/config/config.json","w"))
core=subprocess.Popen([evg,"run","--root",root],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
pp=free(); os.makedirs(root+"/prom"); open(root+"/prom/p.yml","w").write("global: {}\n")
prom=subprocess.Popen(["prometheus","--config.file="+root+"/prom/p.yml","--web.listen-address=127.0.0.1:%d"%pp,"--storage.tsdb.path="+root+"/prom/data"],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
def ready(p):
    try: urllib.request.urlopen("http://127.0.0.1:%d/metrics"%p,timeout=1).read(); return True
    except Exception: return False
t0=time.time()
while not (ready(mp) and ready(pp)) and time.time()-t0<30: time.sleep(0.2)
def bench(p,n=300):
    xs=[];size=0
    for _ in range(n):
        t=time.perf_counter(); b=urllib.request.urlopen("http://127.0.0.1:%d/metrics"%p,timeout=5).read(); xs.append((time.perf_counter()-t)*1000); size=len(b)
    xs.sort(); return statistics.median(xs), xs[int(len(xs)*0.99)-1], size
for name,p in (("evergreen",mp),("prometheus 2.42 (peer)",pp)):
    m,p99,size=bench(p); print(f"{name}: median {m:.2f} ms, p99 {p99:.2f} ms, body {size} bytes")
core.terminate(); prom.terminate(); core.wait(); prom.wait()
