"""What each language's compile (and whole compile-and-run) needs, measured through SandboxRunner.

Runs every language's example program with roomy limits (2 GiB, 1024
processes, 120 s) and prints the worst peak memory and peak processes
(threads count: it is the pids cgroup's number) and the median wall and CPU
time over ``--repeat`` runs. These numbers are what the default
``compile_limits`` in ``faber_ray.languages`` were set from. ``--probe`` also
walks a ladder of memory and process limits down to the smallest each compile
still passes with (memory with a 16 MiB tmpfs, since the tmpfs counts).

Run: python -m benchmarks.bench_languages [--languages c java] [--repeat 3] [--probe]
"""

from __future__ import annotations

import argparse
import shlex
import statistics

from faber_ray import ExecutorConfig, ResourceLimits, Task, TaskResult, TaskStatus
from faber_ray.languages import LANGUAGES, Language
from faber_ray.sandbox import SandboxRunner
from faber_ray.images.image import ensure_images

MiB = 1024**2

#: A heavier program than the examples: the standard library's containers,
#: generics and formatting, as a typical judge submission uses them.
WORKLOADS = {
    "c": """#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }
int main(void) {
    int n = 100000, *v = malloc(n * sizeof *v);
    for (int i = 0; i < n; i++) v[i] = (i * 7919) % n;
    qsort(v, n, sizeof *v, cmp);
    char buf[64];
    snprintf(buf, sizeof buf, "%d %.3f", v[n / 2], sqrt((double)v[n - 1]));
    printf("%s %zu\\n", buf, strlen(buf));
    free(v);
    return 0;
}
""",
    "cpp": """#include <bits/stdc++.h>
using namespace std;
template <typename T> T total(const vector<T>& v) { return accumulate(v.begin(), v.end(), T{}); }
int main() {
    vector<long long> v(100000);
    iota(v.begin(), v.end(), 1);
    map<int, vector<string>> groups;
    for (int i = 0; i < 1000; i++) groups[i % 7].push_back(to_string(i));
    unordered_map<string, int> counts;
    for (auto& [k, names] : groups) for (auto& s : names) counts[s.substr(0, 1)] += k;
    sort(v.rbegin(), v.rend());
    priority_queue<pair<int, string>> pq;
    for (auto& [s, c] : counts) pq.push({c, s});
    cout << total(v) << " " << pq.top().second << " " << fixed << setprecision(3) << sqrt(2.0) << endl;
}
""",
    "java": """import java.util.*;
import java.util.stream.*;
public class Main {
    record Pair(int key, String name) {}
    public static void main(String[] args) {
        List<Integer> v = IntStream.range(0, 100000).map(i -> (i * 7919) % 100000).boxed().collect(Collectors.toList());
        Collections.sort(v);
        Map<Integer, List<String>> groups = new TreeMap<>();
        for (int i = 0; i < 1000; i++) groups.computeIfAbsent(i % 7, k -> new ArrayList<>()).add(Integer.toString(i));
        PriorityQueue<Pair> pq = new PriorityQueue<>(Comparator.comparingInt(Pair::key).reversed());
        groups.forEach((k, names) -> pq.add(new Pair(k * names.size(), names.get(0))));
        String joined = groups.values().stream().flatMap(List::stream).limit(5).collect(Collectors.joining(","));
        System.out.printf("%d %s %s%n", v.get(v.size() / 2), pq.peek().name(), joined);
    }
}
""",
    "go": """package main

import (
\t"bufio"
\t"fmt"
\t"math"
\t"os"
\t"sort"
\t"strconv"
\t"strings"
)

type pair struct {
\tkey  int
\tname string
}

func main() {
\tv := make([]int, 100000)
\tfor i := range v {
\t\tv[i] = (i * 7919) % len(v)
\t}
\tsort.Ints(v)
\tgroups := map[int][]string{}
\tfor i := 0; i < 1000; i++ {
\t\tgroups[i%7] = append(groups[i%7], strconv.Itoa(i))
\t}
\tpairs := []pair{}
\tfor k, names := range groups {
\t\tpairs = append(pairs, pair{k * len(names), names[0]})
\t}
\tsort.Slice(pairs, func(i, j int) bool { return pairs[i].key > pairs[j].key })
\tw := bufio.NewWriter(os.Stdout)
\tdefer w.Flush()
\tfmt.Fprintf(w, "%d %s %.3f %s\\n", v[len(v)/2], pairs[0].name, math.Sqrt(2), strings.Join(groups[0][:3], ","))
}
""",
    "rust": """use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::io::{self, Write};
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pair { key: usize, name: String }
fn total<T: Copy + std::iter::Sum<T>>(v: &[T]) -> T { v.iter().copied().sum() }
fn main() {
    let mut v: Vec<u64> = (0..100000u64).map(|i| (i * 7919) % 100000).collect();
    v.sort_unstable();
    let mut groups: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for i in 0..1000 { groups.entry(i % 7).or_default().push(i.to_string()); }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (k, names) in &groups { for s in names { *counts.entry(s[..1].to_string()).or_insert(0) += k; } }
    let mut heap: BinaryHeap<Pair> = counts.into_iter().map(|(name, key)| Pair { key, name }).collect();
    let top = heap.pop().unwrap();
    let out = io::stdout();
    let mut out = out.lock();
    writeln!(out, "{} {} {:.3} {:?}", total(&v), top.name, 2f64.sqrt(), v.get(5)).unwrap();
}
""",
}
ROOMY = ResourceLimits(timeout=120, cpu_time=120, memory=2048 * MiB, max_processes=1024)


def _task(lang: Language, argv: tuple[str, ...], source: str) -> Task:
    return Task(command=argv[0], args=list(argv[1:]), files={lang.source_file: source}, image=lang.image, limits=ROOMY)


def _both(lang: Language) -> tuple[str, ...]:
    steps = [lang.compile, lang.run] if lang.compile else [lang.run]
    return ("sh", "-c", " && ".join(shlex.join(step) for step in steps))


def measure(runner: SandboxRunner, lang: Language, argv: tuple[str, ...], source: str, repeat: int) -> str:
    results: list[TaskResult] = [runner.run(_task(lang, argv, source)) for _ in range(repeat)]
    bad = [r for r in results if r.status is not TaskStatus.SUCCESS]
    if bad:
        return f"FAILED: {bad[0].status} {bad[0].error or ''} {bad[0].stderr[-300:]}"
    usage = [r.resource_usage for r in results]
    return (
        f"wall {statistics.median(u.wall_time for u in usage):5.2f} s  "
        f"cpu {statistics.median(u.cpu_time for u in usage):5.2f} s  "
        f"memory {max(u.peak_memory for u in usage) / MiB:6.1f} MiB  "
        f"processes {max(u.peak_processes for u in usage):3d}"
    )


MEMORY_LADDER = (16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256, 384, 512)  # MiB
PROCESS_LADDER = (2, 3, 4, 6, 8, 12, 16, 20, 24, 32, 48, 64)


def smallest(runner: SandboxRunner, lang: Language, source: str) -> str:
    """The least memory and the fewest processes (each with the other roomy) the compile still passes with."""
    argv = lang.compile
    assert argv is not None

    def passes(**limits: int) -> bool:
        task = _task(lang, argv, source)
        task.limits = ROOMY.model_copy(update={"disk": 16 * MiB, **limits})
        return runner.run(task).status is TaskStatus.SUCCESS

    memory = next((m for m in MEMORY_LADDER if passes(memory=m * MiB)), None)
    processes = next((n for n in PROCESS_LADDER if passes(max_processes=n)), None)
    return f"smallest that works: memory {memory} MiB, processes {processes} (None: not within the ladder)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--languages", nargs="*", default=list(LANGUAGES), choices=list(LANGUAGES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--probe", action="store_true",
                        help="also find the smallest memory and process limits each compile of the workload passes with")
    args = parser.parse_args()
    runner = SandboxRunner(ExecutorConfig())
    chosen = [LANGUAGES[name] for name in args.languages]
    ensure_images(runner.client, {lang.image for lang in chosen})
    for lang in chosen:
        runner.run(_task(lang, _both(lang), lang.example))  # warm the page cache with the toolchain's files
        programs = {"example": lang.example}
        if lang.name in WORKLOADS:
            programs["workload"] = WORKLOADS[lang.name]
        for program, source in programs.items():
            for what, argv in (("compile", lang.compile), ("compile+run", _both(lang))):
                if argv:
                    line = measure(runner, lang, argv, source, args.repeat)
                    print(f"{lang.name:<11} {program:<9} {what:<12} {line}", flush=True)
        if args.probe and lang.compile:
            source = WORKLOADS.get(lang.name, lang.example)
            print(f"{lang.name:<11} workload  {smallest(runner, lang, source)}", flush=True)


if __name__ == "__main__":
    main()
