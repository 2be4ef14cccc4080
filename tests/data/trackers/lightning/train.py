import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
X = torch.randn(256, 8)
y = (X[:, 0] > 0).long()


class M(pl.LightningModule):
    def __init__(self, lr=0.05, model_name="mlp-small"):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Linear(8, 2)

    def training_step(self, b, i):
        x, t = b
        loss = torch.nn.functional.cross_entropy(self.net(x), t)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, b, i):
        x, t = b
        p = self.net(x).argmax(1)
        tp = ((p == 1) & (t == 1)).sum().float()
        fp = ((p == 1) & (t == 0)).sum().float()
        fn = ((p == 0) & (t == 1)).sum().float()
        self.log("val_f1", 2 * tp / (2 * tp + fp + fn))
        self.log("val_acc", (p == t).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


dl = DataLoader(TensorDataset(X, y), batch_size=64)
for lr in (0.05, 0.5):
    trainer = pl.Trainer(
        max_epochs=4,
        logger=CSVLogger("logs", name="mlp"),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        log_every_n_steps=1,
    )
    trainer.fit(M(lr=lr), dl, dl)
