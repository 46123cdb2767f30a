//! reqwest-fetch: the peer "as the Tokio tutorials teach it".
//!
//!   reqwest-fetch LIST CONCURRENCY OUTDIR|-
//!
//! Reads one URL a line from LIST, then `tokio::spawn`s one task per URL;
//! each task first takes a permit from a shared `Semaphore` of
//! CONCURRENCY permits, GETs the URL with one shared `reqwest::Client`
//! (its connection pool gives keep-alive reuse) and streams the body with
//! `Response::chunk()` into OUTDIR/<last path segment> through
//! `tokio::fs::File`, or reads and drops it when OUTDIR is "-".  main
//! awaits every JoinHandle in order, then prints "ok JOBS bytes BYTES" on
//! stdout (the benchmark checks BYTES when bodies are discarded).  Exit 0
//! when every URL gave a 2xx and its body was read (and written), 1
//! otherwise (the first few failures go to stderr).  Runtime: `#[tokio::main]`, the multi-thread default (one
//! worker per CPU).  No tuning beyond that: this is the shape most
//! programs copied from the tutorials have.
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

async fn fetch(client: &reqwest::Client, url: &str, out: Option<&str>) -> Result<u64, String> {
    let mut resp = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let mut n = 0u64;
    match out {
        None => {
            while let Some(c) = resp.chunk().await.map_err(|e| e.to_string())? {
                n += c.len() as u64;
            }
        }
        Some(dir) => {
            let path_part = url.split('?').next().unwrap_or(url);
            let name = path_part.rsplit('/').find(|s| !s.is_empty()).unwrap_or("index.html");
            let path = format!("{}/{}", dir, name);
            let mut f = tokio::fs::File::create(&path).await.map_err(|e| e.to_string())?;
            while let Some(c) = resp.chunk().await.map_err(|e| e.to_string())? {
                n += c.len() as u64;
                f.write_all(&c).await.map_err(|e| e.to_string())?;
            }
            f.flush().await.map_err(|e| e.to_string())?;
        }
    }
    Ok(n)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: reqwest-fetch LIST CONCURRENCY OUTDIR|-");
        std::process::exit(2);
    }
    let list = std::fs::read_to_string(&args[1]).expect("read LIST");
    let conc: usize = args[2].parse().expect("CONCURRENCY");
    let out: Option<Arc<str>> = if args[3] == "-" { None } else { Some(Arc::from(args[3].as_str())) };

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conc)
        .build()
        .expect("client");
    let sem = Arc::new(Semaphore::new(conc));
    let mut handles = Vec::new();
    for line in list.lines() {
        let url = line.trim();
        if url.is_empty() {
            continue;
        }
        let url = url.to_string();
        let client = client.clone();
        let sem = sem.clone();
        let out = out.clone();
        handles.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            let r = fetch(&client, &url, out.as_deref()).await;
            r.map_err(|e| format!("{}: {}", url, e))
        }));
    }
    let mut failed = 0usize;
    let (mut ok, mut bytes) = (0usize, 0u64);
    for h in handles {
        match h.await {
            Ok(Ok(n)) => {
                ok += 1;
                bytes += n;
            }
            Ok(Err(e)) => {
                if failed < 5 {
                    eprintln!("reqwest-fetch: {}", e);
                }
                failed += 1;
            }
            Err(e) => {
                eprintln!("reqwest-fetch: task failed: {}", e);
                failed += 1;
            }
        }
    }
    println!("ok {} bytes {}", ok, bytes);
    if failed > 0 {
        eprintln!("reqwest-fetch: {} failed", failed);
        std::process::exit(1);
    }
}
