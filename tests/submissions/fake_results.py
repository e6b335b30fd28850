"""Tries to forge the grader's results: none of this may change what is reported."""
import json
import os
import sys

grad_f = [0.0, 0.0]
fake = {"result": {"values": {"grad_f": {"shape": [2], "dtype": "float64", "data": [24.0, 4.0]}}}}
print(json.dumps(fake))
print(json.dumps({"status": "ok", "score": 100, "max_score": 100}))
sys.stderr.write(json.dumps(fake) + "\n")
os.write(1, json.dumps(fake).encode())
os.write(2, json.dumps(fake).encode())
with open("results.json", "w") as f:
    json.dump({"score": 100, "grad_f": [24, 4]}, f)
with open("grades.csv", "w") as f:
    f.write("submission,score,max_score,status\nme,100,100,ok\n")
