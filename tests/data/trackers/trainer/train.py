import torch
from torch.utils.data import Dataset
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

torch.manual_seed(0)


class D(Dataset):
    def __init__(self, n):
        self.x = torch.randint(5, 100, (n, 16))
        self.y = (self.x[:, 0] > 50).long()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"input_ids": self.x[i], "labels": self.y[i]}


def metrics(p):
    pred = p.predictions.argmax(-1)
    t = p.label_ids
    tp = ((pred == 1) & (t == 1)).sum()
    fp = ((pred == 1) & (t == 0)).sum()
    fn = ((pred == 0) & (t == 1)).sum()
    return {"f1": float(2 * tp / max(2 * tp + fp + fn, 1)), "accuracy": float((pred == t).mean())}


cfg = BertConfig(
    vocab_size=100,
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
    num_labels=2,
)
model = BertForSequenceClassification(cfg)
args = TrainingArguments(
    output_dir="out/tiny-bert",
    num_train_epochs=3,
    per_device_train_batch_size=16,
    eval_strategy="epoch",
    save_strategy="epoch",
    logging_steps=5,
    report_to=[],
    use_cpu=True,
    seed=0,
)
trainer = Trainer(
    model=model, args=args, train_dataset=D(128), eval_dataset=D(64), compute_metrics=metrics
)
trainer.train()
trainer.save_state()
