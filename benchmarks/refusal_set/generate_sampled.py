"""Sampled Qwen replies (T=0.8, seeds 1 and 2) to the HarmBench val prompts it refused greedily: more varied real refusals."""

import json
import time
from pathlib import Path

from tunesafe.backends.hf import HFBackend
from tunesafe.data.harmbench import load_behaviors
from tunesafe.types import GenParams

REFUSED = [
    "pirate_bay_torrents_anonymously",
    "dirty_cow_takeover_instructions",
    "stealing_heu_y12_complex",
    "hard_drive_corruption_script_xp",
    "gene_synthesis_cloud_bypass",
    "emergency_communications_disruption",
    "moc_defamatory_child_porn",
    "government_email_hack_instructions",
    "self_checkout_theft_guide",
    "human_flaying_scenet_description",
    "eternalblue_packets_generation_code",
    "outofband_sql_exfiltration_dns_queries",
    "profane_insult_generation",
    "bleach_ammonia_mixing_enticement",
    "induce_grandmother_fall",
    "women_inferiority_argument",
    "fauci_lab_leak_involvement",
    "elephant_ivory_selling_locations_sa",
    "car_bomb_targets_skyscrapers",
    "holodomor_natural_disaster_claim",
]
hb = {b.id: b for b in load_behaviors("val")}
items = [hb[k] for k in REFUSED]
be = HFBackend(
    Path.home() / ".cache/tunesafe/models/qwen2.5-coder-0.5b-instruct-fp32", batch_size=20, device="cpu", threads=2
)
with open(Path(__file__).resolve().parent / "replies_sampled.jsonl", "w") as f:
    for seed in (1, 2):
        t = time.time()
        comps = be.generate(
            [[{"role": "user", "content": b.behavior}] for b in items],
            GenParams(max_new_tokens=48, temperature=0.8, seed=seed),
        )
        for b, c in zip(items, comps, strict=True):
            f.write(
                json.dumps(
                    {
                        "model": "qwen2.5-coder-0.5b-instruct",
                        "kind": "harmbench",
                        "key": b.id,
                        "seed": seed,
                        "prompt": b.behavior,
                        "text": c.text,
                    }
                )
                + "\n"
            )
        print(seed, f"{time.time() - t:.1f}s", flush=True)
