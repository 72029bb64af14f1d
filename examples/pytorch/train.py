"""Train a small PyTorch network on the digits data (8x8 images, bundled with scikit-learn).

A training script as you would write it, plus one habit: after every epoch it prints a JSON
line with the validation score, and at the end one with the result. That is all hpsearch needs
to stop hopeless trials early and draw the learning curves:

    {"epoch": 3, "score": 0.91, "train_loss": 0.31}     one per epoch (other keys: metrics)
    {"score": 0.95, "test_accuracy": 0.94}              the result (other keys: metrics)

Run it alone:  python train.py --lr 0.003 --epochs 5
"""

import argparse
import json

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--beta1", type=float, default=0.9)
    parser.add_argument("--beta2", type=float, default=0.999)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    # hpsearch gives each trial its own GPU through CUDA_VISIBLE_DEVICES (parallel.devices)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    # The same split for every trial: train, validation (the score), test (a metric).
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y,
                                                        random_state=0)
    X_train, X_val, y_train, y_val = train_test_split(X_train, y_train, test_size=0.25,
                                                      stratify=y_train, random_state=0)

    def tensors(features, labels):
        return (torch.tensor(features, dtype=torch.float32, device=device),
                torch.tensor(labels, dtype=torch.long, device=device))

    (X_train, y_train), (X_val, y_val), (X_test, y_test) = (
        tensors(X_train, y_train), tensors(X_val, y_val), tensors(X_test, y_test))
    model = nn.Sequential(nn.Linear(64, args.hidden), nn.ReLU(),
                          nn.Linear(args.hidden, args.hidden), nn.ReLU(),
                          nn.Linear(args.hidden, 10)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr,
                                 betas=(args.beta1, args.beta2))
    loss_fn = nn.CrossEntropyLoss()

    def accuracy(features, labels) -> float:
        model.eval()
        with torch.no_grad():
            return (model(features).argmax(dim=1) == labels).float().mean().item()

    best = 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(X_train), device=device)
        total = 0.0
        for start in range(0, len(order), args.batch_size):
            batch = order[start:start + args.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(X_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        score = accuracy(X_val, y_val)
        best = max(best, score)
        print(json.dumps({"epoch": epoch, "score": score, "train_loss": total / len(order)}),
              flush=True)
    print(json.dumps({"score": score, "best_epoch_score": best,
                      "test_accuracy": accuracy(X_test, y_test)}))


if __name__ == "__main__":
    main()
